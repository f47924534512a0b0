"""init / save / finish, every resume mode, the context manager, the Api."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import cairn
from conftest import Env


def write(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def test_init_save_finish_commits_and_deletes_the_resume_file(env: Env) -> None:
    work = env.tmp / "d"
    with cairn.init(project="p", dir=work) as run:
        assert isinstance(run, cairn.Run)
        assert run.path == f"alice/p/{run.id}" and run.entity == "alice" and run.project == "p"
        assert not run.resumed
        assert Path(run.dir).is_dir() and str(work) in run.dir
        assert (work / "cairn" / "resume.json").exists()
        sha = write(Path(run.dir) / "ckpt.bin", b"step 1")
        assert run.save("ckpt.bin", policy="now") == ["ckpt.bin"]
        run.flush(timeout=60)
        assert run.last_saved("ckpt.bin") == {"name": "ckpt.bin", "size": 6, "sha256": sha, "version": 1}
        write(Path(run.dir) / "end.txt", b"at the end")
        run.save("end.txt", policy="end")
    assert not (work / "cairn" / "resume.json").exists()
    stored = cairn.Api().run(run.path)
    assert {f.name: f.sha256 for f in stored.files()} == {
        "ckpt.bin": sha,
        "end.txt": hashlib.sha256(b"at the end").hexdigest(),
    }
    with pytest.raises(cairn.FailedPreconditionError):
        run.save("ckpt.bin")
    run.finish()  # idempotent


def test_config_is_stored_merged_on_resume_and_validated(env: Env) -> None:
    d = env.tmp / "d"
    with cairn.init(project="p", dir=d, id="cfg", config={"batch_size": 32, "lr": 0.1}) as run:
        assert cairn.Api().run(run.path).state == "running"
    stored = cairn.Api().run("alice/p/cfg")
    assert stored.config == {"batch_size": 32, "lr": 0.1} and stored.state == "finished"
    with cairn.init(project="p", dir=d, id="cfg", resume="must", config={"lr": 0.01, "epochs": 3}):
        pass
    assert cairn.Api().run("alice/p/cfg").config == {"batch_size": 32, "lr": 0.01, "epochs": 3}
    with pytest.raises(cairn.InvalidArgumentError, match="mapping"):
        cairn.init(project="p", dir=d, config=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(cairn.InvalidArgumentError, match="JSON"):
        cairn.init(project="p", dir=d, config={"f": object()})
    with pytest.raises(cairn.InvalidArgumentError, match="over the limit of 65536 bytes"):
        cairn.init(project="p", dir=d, config={"big": "x" * 70000})


def test_save_of_nothing_is_an_invalid_argument(env: Env) -> None:
    with cairn.init(project="p", dir=env.tmp / "d") as run:
        with pytest.raises(cairn.InvalidArgumentError, match="nothing|match"):
            run.save("no-such-*.bin")
        with pytest.raises(ValueError, match="policy"):
            run.save("x", policy="sometimes")  # type: ignore[arg-type]


def test_resume_never_allow_must(env: Env) -> None:
    d = env.tmp / "d"
    with pytest.raises(cairn.NotFoundError):
        cairn.init(project="p", dir=d, id="fresh-must", resume="must")
    with cairn.init(project="p", dir=d, id="r-never") as run:
        assert not run.resumed
    with pytest.raises(cairn.AlreadyExistsError):
        cairn.init(project="p", dir=d, id="r-never", resume="never")
    with cairn.init(project="p", dir=d, id="r-never", resume="allow") as run:
        assert run.resumed
    with cairn.init(project="p", dir=d, id="new-allow", resume="allow") as run:
        assert not run.resumed
    with cairn.init(project="p", dir=d, id="r-never", resume="must") as run:
        assert run.resumed and run.id == "r-never"
    with pytest.raises(cairn.InvalidArgumentError):
        cairn.init(project="p", dir=d, resume="sometimes")


def test_a_block_that_raises_fails_the_run_and_auto_resumes_it(env: Env) -> None:
    d = env.tmp / "d"
    with pytest.raises(RuntimeError, match="boom"):
        with cairn.init(project="p", dir=d, resume="auto") as run:
            first_id = run.id
            write(Path(run.dir) / "ckpt.bin", b"progress")
            run.save("ckpt.bin", policy="now")
            raise RuntimeError("boom")
    assert (d / "cairn" / "resume.json").exists(), "a failed run stays resumable"
    with cairn.init(project="p", dir=d, resume="auto") as again:
        assert again.resumed and again.id == first_id
        f = again.restore("ckpt.bin")  # its run and files dir by default
        assert f is not None
        with f:
            assert f.read() == b"progress"
            assert Path(f.name) == Path(again.dir) / "ckpt.bin"
        g = cairn.restore("ckpt.bin", root=env.tmp / "r")  # the current run by default
        assert g is not None
        g.close()
    assert not (d / "cairn" / "resume.json").exists()
    with cairn.init(project="p", dir=d, resume="auto") as fresh:
        assert not fresh.resumed and fresh.id != first_id


def test_disabled_mode_is_a_cheap_no_op(env: Env) -> None:
    with cairn.init(project="p", dir=env.tmp / "d", mode="disabled") as run:
        write(Path(run.dir) / "x.bin", b"x")
        assert run.save("x.bin") == []
        run.flush()
        assert cairn.restore("missing.bin") is None


def test_offline_run_records_files_locally(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_BASE_URL", "http://127.0.0.1:9")  # nothing must be contacted
    with cairn.init(project="p", dir=env.tmp / "d", mode="offline") as run:
        write(Path(run.dir) / "x.bin", b"x")
        assert run.save("x.bin", policy="now") == ["x.bin"]
    assert (Path(run.dir).parent / "offline.jsonl").exists()


def test_api_lists_runs_and_pages_of_files(env: Env) -> None:
    src = env.tmp / "many"
    n = 1005  # the server pages file listings by 1000
    for i in range(n):
        write(src / f"f/{i:05d}.txt", str(i).encode())
    with cairn.init(project="pages", dir=env.tmp / "d", id="paged") as run:
        assert len(run.save(str(src / "f/*.txt"), base_path=src, policy="now")) == n
        run.flush(timeout=300)
    api = cairn.Api()
    runs = api.runs("alice/pages")
    assert [r.id for r in runs] == ["paged"]
    assert runs[0].path == "alice/pages/paged" and runs[0].created_at
    assert sum(1 for _ in runs[0].files()) == n
    stored = api.run("alice/pages/paged")
    files = list(stored.files())
    assert len(files) == n
    assert [f.name for f in files] == sorted(f"f/{i:05d}.txt" for i in range(n))
    assert [f.name for f in stored.files(prefix="f/0100")] == [f"f/0100{i}.txt" for i in range(5)]
    one = stored.file("f/00007.txt")
    assert (one.size, one.version) == (1, 1) and one.updated_at
    with one.download(root=env.tmp / "dl") as f:
        assert f.read() == b"7" and f.name == str(env.tmp / "dl" / "f/00007.txt")
    (env.tmp / "dl" / "f/00007.txt").write_bytes(b"local")
    with pytest.raises(cairn.AlreadyExistsError):
        one.download(root=env.tmp / "dl")
    with one.download(root=env.tmp / "dl", exist_ok=True) as f:
        assert f.read() == b"local"
    with one.download(root=env.tmp / "dl", replace=True) as f:
        assert f.read() == b"7"
    with pytest.raises(cairn.NotFoundError):
        stored.file("absent")
    with pytest.raises(cairn.NotFoundError):
        api.run("alice/pages/nope")


def test_file_versions_and_download_of_one(env: Env) -> None:
    env.save("vers", "m.bin", b"v1")
    env.save("vers", "m.bin", b"v2")
    f = cairn.Api().run("alice/p/vers").file("m.bin")
    assert f.version == 2
    assert [v.version for v in f.versions()] == [1, 2]
    with f.download(root=env.tmp / "a", version=1) as r:
        assert r.read() == b"v1"
    paths = cairn.Api().restore_many("m.bin", "alice/p/vers", env.tmp / "b")
    assert Path(paths[0]).read_bytes() == b"v2"
