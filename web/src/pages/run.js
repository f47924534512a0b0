// "/<entity>/<project>/runs/<run_id>": the run's files, as a tree or, with a
// filter, as the matching paths. One request for all files
// (GET .../tree); rendering is capped and grows on demand.
import { useMemo, useState } from 'preact/hooks';
import { html } from '../html.js';
import { get } from '../api.js';
import { apiRun, bytes, filePage, shortSha, time } from '../format.js';
import { Copy, Status, useLoad } from '../widgets.js';
import { buildTree, filterRows, visibleRows } from './tree.js';

const kPage = 500;

function Row({ row, e, p, r, open, toggle, flat }) {
  const indent = { paddingLeft: `${0.5 + row.depth * 1.25}em` };
  if (row.dir) {
    const d = row.dir;
    const isOpen = open.has(d.path);
    return html`<tr class="dir">
      <td style=${indent}><button type="button" class="toggle" aria-expanded=${isOpen} onClick=${() => toggle(d.path)}>
        <span aria-hidden="true">${isOpen ? '▾' : '▸'}</span> ${d.name}/</button></td>
      <td class="num">${bytes(d.size)}</td><td class="num">${d.count} files</td><td></td><td></td>
    </tr>`;
  }
  const [name, size, versions, , updated, sha] = row.file;
  const label = flat ? name : name.slice(name.lastIndexOf('/') + 1);
  return html`<tr>
    <td style=${indent}><a href=${filePage(e, p, r, name)}>${label}</a></td>
    <td class="num">${bytes(size)}</td><td class="num">${versions}</td><td>${time(updated)}</td>
    <td><code title=${sha}>${shortSha(sha)}</code></td>
  </tr>`;
}

export function RunFiles({ e, p, r }) {
  const [data, error] = useLoad(() => get(`${apiRun(e, p, r)}/tree`), [e, p, r]);
  const [q, setQ] = useState('');
  const [open, setOpen] = useState(() => new Set());
  const [cap, setCap] = useState(kPage);
  const tree = useMemo(() => data && buildTree(data.files), [data]);
  if (!data) return html`<${Status} error=${error} />`;
  const toggle = (path) => {
    const next = new Set(open);
    if (next.has(path)) next.delete(path);
    else next.add(path);
    setOpen(next);
  };
  const [rows, total] = q ? filterRows(data.files, q, cap) : [visibleRows(tree, open, cap), null];
  const more = q ? total > rows.length : rows.length >= cap;
  return html`<section>
    <h1>Run ${r}</h1>
    <p>${tree.count} files, ${bytes(tree.size)}.</p>
    <${Copy} label="Restore every file" id="restore-run"
      text=${`cairn restore '*' --run ${location.origin}/${location.pathname.split('/').slice(1, 5).join('/')}`} />
    <label class="filter">Filter by name
      <input id="file-filter" type="search" value=${q} onInput=${(ev) => { setQ(ev.currentTarget.value); setCap(kPage); }} />
    </label>
    ${q && html`<p id="match-count" aria-live="polite">${total} matching files</p>`}
    <table id="files" class="files">
      <thead><tr><th scope="col">Name</th><th scope="col" class="num">Size</th><th scope="col" class="num">Versions</th>
        <th scope="col">Updated</th><th scope="col">SHA-256</th></tr></thead>
      <tbody>${rows.map((row) => html`<${Row} key=${row.dir ? `d:${row.dir.path}` : row.file[0]}
        row=${row} e=${e} p=${p} r=${r} open=${open} toggle=${toggle} flat=${!!q} />`)}</tbody>
    </table>
    ${more && html`<button type="button" onClick=${() => setCap(cap + kPage)}>Show more</button>`}
  </section>`;
}
