"""The restore contract (docs/spec/restore.md) from Python, row by row,
against the real server."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest

import cairn
from conftest import REPO, Env, Server, cli, sha256_file


def test_version_is_the_cmake_project_version() -> None:
    text = (REPO / "CMakeLists.txt").read_text()
    expected = re.search(r"project\(\s*cairn\s+VERSION\s+([0-9.]+)", text)
    assert expected is not None
    assert cairn.__version__ == expected.group(1)


def test_every_run_path_form_restores_an_open_binary_file_named_root_slash_name(env: Env) -> None:
    env.save("forms", "ckpt/model.pt", b"weights v1")
    forms = [
        "alice/p/forms",
        "alice/p/runs/forms",
        "p/forms",  # the key's own entity
        f"{env.server.url}/alice/p/runs/forms",
        "  /alice/p/forms/ ",
    ]
    for i, form in enumerate(forms):
        root = env.tmp / f"root{i}"
        f = cairn.restore("ckpt/model.pt", run_path=form, root=root)
        assert isinstance(f, io.BufferedReader), form
        with f:
            assert f.name == str(root / "ckpt/model.pt")
            assert f.tell() == 0
            assert f.read() == b"weights v1"


def test_positional_order_and_defaults_are_the_references(env: Env) -> None:
    env.save("pos", "a.txt", b"A")
    # restore(name, run_path, replace, root): root defaults to the working directory.
    with cairn.restore("a.txt", "alice/p/pos") as f:  # type: ignore[union-attr]
        assert Path(f.name) == Path.cwd() / "a.txt"
    with cairn.restore("a.txt", "alice/p/pos", True, str(env.tmp / "r")) as f:  # type: ignore[union-attr]
        assert f.read() == b"A"
    with pytest.raises(TypeError):
        cairn.restore("a.txt", "alice/p/pos", False, None, 1)  # type: ignore[misc]  # version is keyword-only


@pytest.mark.parametrize("name", ["../escape", "/abs/path", "a//b", "a/./b", "a\\b", "a\nb", "", "x/.."])
def test_bad_names_are_invalid_arguments_and_nothing_is_written(env: Env, name: str) -> None:
    root = env.tmp / "root"
    with pytest.raises(cairn.InvalidArgumentError) as e:
        cairn.restore(name, run_path="alice/p/whatever", root=root)
    assert isinstance(e.value, ValueError)
    assert isinstance(e.value, cairn.Error)
    assert not root.exists()
    assert list(Path.cwd().iterdir()) == []


@pytest.mark.parametrize("run_path", ["alice", "a/b/c/d/e", "alice/p/bad id", "alice/p/.hidden", "ftp://x/a/p/runs/r"])
def test_bad_run_paths_are_invalid_arguments(env: Env, run_path: str) -> None:
    with pytest.raises(ValueError, match="run"):
        cairn.restore("a.txt", run_path=run_path, root=env.tmp / "root")
    assert not (env.tmp / "root").exists()


def test_restore_before_init_without_run_path_says_what_to_do(env: Env) -> None:
    with pytest.raises(cairn.InvalidArgumentError, match="run_path is required"):
        cairn.restore("a.txt")


def test_missing_file_or_version_is_none(env: Env) -> None:
    env.save("none", "present.txt", b"here")
    assert cairn.restore("absent.txt", run_path="alice/p/none") is None
    assert cairn.restore("present.txt", run_path="alice/p/none", version=2) is None
    assert not (Path.cwd() / "absent.txt").exists()


def test_missing_run_project_or_entity_is_not_found(env: Env) -> None:
    env.save("exists", "a.txt", b"a")
    for path in ["alice/p/nope", "alice/nope/exists", "nobody/p/exists"]:
        with pytest.raises((cairn.NotFoundError, cairn.PermissionDeniedError)) as e:
            cairn.restore("a.txt", run_path=path)
        if path != "nobody/p/exists":  # another entity may answer permission denied instead
            assert isinstance(e.value, cairn.NotFoundError), path
            assert isinstance(e.value, LookupError)


def test_bad_or_missing_key_is_permission_denied(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.save("auth", "a.txt", b"a")
    monkeypatch.setenv("CAIRN_API_KEY", "not-a-key")
    with pytest.raises(cairn.PermissionDeniedError) as e:
        cairn.restore("a.txt", run_path="alice/p/auth")
    assert isinstance(e.value, PermissionError)
    monkeypatch.delenv("CAIRN_API_KEY")
    with pytest.raises(PermissionError, match="key"):
        cairn.restore("a.txt", run_path="alice/p/auth")
    assert not (Path.cwd() / "a.txt").exists()


def test_local_copy_is_returned_with_the_server_stopped_and_replace_then_fails(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = Server(tmp_path / "own-data")
    try:
        key = own.create_key("alice")
        monkeypatch.setenv("CAIRN_BASE_URL", own.url)
        monkeypatch.setenv("CAIRN_API_KEY", key)
        src = tmp_path / "s" / "m.bin"
        src.parent.mkdir()
        src.write_bytes(b"model")
        cli(["save", str(src), "--run", "alice/p/local", "--base", str(src.parent)],
            {"CAIRN_BASE_URL": own.url, "CAIRN_API_KEY": key})
        with cairn.restore("m.bin", run_path="alice/p/local") as f:  # type: ignore[union-attr]
            assert f.read() == b"model"
        own.stop()
        with cairn.restore("m.bin", run_path="alice/p/local") as f:  # type: ignore[union-attr]
            assert f.read() == b"model"
        monkeypatch.delenv("CAIRN_API_KEY")  # the local copy needs no credentials either
        assert cairn.restore("m.bin", run_path="alice/p/local") is not None
        monkeypatch.setenv("CAIRN_API_KEY", key)
        with pytest.raises(cairn.UnavailableError) as e:
            cairn.restore("m.bin", run_path="alice/p/local", replace=True)
        assert isinstance(e.value, ConnectionError)
        assert (Path.cwd() / "m.bin").read_bytes() == b"model"
    finally:
        own.stop()


def test_replace_fetches_the_stores_copy_over_a_local_one(env: Env) -> None:
    env.save("repl", "c.txt", b"stored")
    local = Path.cwd() / "c.txt"
    local.write_bytes(b"edited locally")
    with cairn.restore("c.txt", run_path="alice/p/repl") as f:  # type: ignore[union-attr]
        assert f.read() == b"edited locally"
    with cairn.restore("c.txt", run_path="alice/p/repl", replace=True) as f:  # type: ignore[union-attr]
        assert f.read() == b"stored"
    assert local.read_bytes() == b"stored"


def test_version_restores_an_earlier_one(env: Env) -> None:
    env.save("ver", "w.bin", b"one")
    env.save("ver", "w.bin", b"two")
    with cairn.restore("w.bin", run_path="alice/p/ver", root=env.tmp / "a", version=1) as f:  # type: ignore[union-attr]
        assert f.read() == b"one"
    with cairn.restore("w.bin", run_path="alice/p/ver", root=env.tmp / "b") as f:  # type: ignore[union-attr]
        assert f.read() == b"two"
    assert cairn.restore("w.bin", run_path="alice/p/ver", root=env.tmp / "c", version=3) is None


def test_corrupted_blob_is_an_integrity_error_and_the_target_is_untouched(env: Env) -> None:
    sha = env.save("bad", "big.bin", size=3 << 20, seed=5)
    blob = env.server.blob_path(sha)
    os.chmod(blob, 0o644)
    with open(blob, "r+b") as b:
        b.seek(1 << 20)
        byte = b.read(1)
        b.seek(1 << 20)
        b.write(bytes([byte[0] ^ 0xFF]))
    target = Path.cwd() / "big.bin"
    target.write_bytes(b"the previous checkpoint")
    with pytest.raises(cairn.IntegrityError) as e:
        cairn.restore("big.bin", run_path="alice/p/bad", replace=True)
    assert isinstance(e.value, cairn.Error)
    assert "big.bin" in str(e.value)
    assert target.read_bytes() == b"the previous checkpoint"
    assert sorted(p.name for p in Path.cwd().iterdir()) == ["big.bin"]  # no partial kept of damaged bytes
    with pytest.raises(cairn.IntegrityError):
        cairn.restore("big.bin", run_path="alice/p/bad", root=env.tmp / "fresh")
    assert not (env.tmp / "fresh" / "big.bin").exists()


def test_restore_many_places_every_match(env: Env) -> None:
    for i in range(3):
        env.save("many", f"ckpt/s{i}.bin", f"s{i}".encode())
    env.save("many", "other.txt", b"o")
    paths = cairn.restore_many("ckpt/*", run_path="alice/p/many", root=env.tmp / "m")
    assert [Path(p).name for p in paths] == ["s0.bin", "s1.bin", "s2.bin"]
    assert all(sha256_file(p) for p in paths)
    assert not (env.tmp / "m" / "other.txt").exists()
