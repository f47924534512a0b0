// "/<entity>/<project>/runs/<run_id>/files/<name>": the file's versions,
// downloads (the API's download route, with the file's name), the restore
// commands to copy, a preview, and the diff of two versions.
import { useState } from 'preact/hooks';
import { html } from '../html.js';
import { get } from '../api.js';
import { apiFile, apiRun, bytes, encodeName, md5Hex, pyString, savedBy, shellWord, time } from '../format.js';
import { Copy, Status, useLoad } from '../widgets.js';
import { Diff, Preview, canPreview, isText } from './preview.js';

function Commands({ e, p, r, name, version, latest }) {
  const runUrl = `${location.origin}/${encodeURIComponent(e)}/${encodeURIComponent(p)}/runs/${encodeURIComponent(r)}`;
  const pinned = version !== latest;
  const cli = `cairn restore ${shellWord(name)} --run ${runUrl}${pinned ? ` --version ${version}` : ''}`;
  const py = `cairn.restore(${pyString(name)}, run_path=${pyString(`${e}/${p}/${r}`)}${pinned ? `, version=${version}` : ''})`;
  return html`<div class="commands">
    <${Copy} label="Command line" text=${cli} id="restore-cli" />
    <${Copy} label="Python" text=${py} id="restore-py" />
  </div>`;
}

function Versions({ versions, e, p, r, name, selected, onSelect }) {
  const base = name.slice(name.lastIndexOf('/') + 1);
  return html`<table id="versions">
    <thead><tr><th scope="col">Version</th><th scope="col" class="num">Size</th><th scope="col">SHA-256</th>
      <th scope="col">MD5</th><th scope="col">Saved</th><th scope="col">Saved by</th><th scope="col">Actions</th></tr></thead>
    <tbody>${versions.map((v) => html`<tr key=${v.version} class=${v.version === selected ? 'selected' : ''}>
      <td>${v.version}</td><td class="num">${bytes(v.size)}</td>
      <td><code class="sha">${v.sha256}</code></td><td><code class="sha">${md5Hex(v.md5) || '—'}</code></td>
      <td>${time(v.updated_at)}</td><td class="saved-by">${savedBy(v.created_by)}</td>
      <td class="actions">
        <a href=${apiFile(e, p, r, name, v.version)} download=${base} id=${`download-${v.version}`}>Download</a>
        <button type="button" aria-pressed=${v.version === selected} onClick=${() => onSelect(v.version)}>Select</button>
      </td>
    </tr>`)}</tbody>
  </table>`;
}

export function FilePage({ e, p, r, name }) {
  const [data, error] = useLoad(() => get(`${apiRun(e, p, r)}/versions/${encodeName(name)}?md5=1`), [e, p, r, name]);
  const [selected, setSelected] = useState(null);
  const [diffFrom, setDiffFrom] = useState(null);
  if (!data) return html`<${Status} error=${error} />`;
  const versions = data.versions;
  if (versions.length === 0) return html`<p class="error" role="alert">No such file in this run.</p>`;
  const latest = versions[versions.length - 1].version;
  const version = selected ?? latest;
  const from = diffFrom ?? (versions.length > 1 ? versions[versions.length - 2].version : null);
  return html`<section>
    <h1 class="filename">${name}</h1>
    <${Versions} versions=${versions} e=${e} p=${p} r=${r} name=${name} selected=${version} onSelect=${setSelected} />
    <h2>Restore version ${version}</h2>
    <${Commands} e=${e} p=${p} r=${r} name=${name} version=${version} latest=${latest} />
    ${canPreview(name) && html`<h2>Preview of version ${version}</h2>
      <${Preview} name=${name} url=${apiFile(e, p, r, name, version)} />`}
    ${isText(name) && from !== null && html`<h2>Changes</h2>
      <label>From version <select id="diff-from" value=${from} onChange=${(ev) => setDiffFrom(Number(ev.currentTarget.value))}>
        ${versions.map((v) => html`<option value=${v.version}>${v.version}</option>`)}
      </select> to version ${version}</label>
      <${Diff} urlA=${apiFile(e, p, r, name, from)} urlB=${apiFile(e, p, r, name, version)}
        labelA=${`version ${from}`} labelB=${`version ${version}`} />`}
  </section>`;
}
