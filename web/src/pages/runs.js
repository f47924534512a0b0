// "/<entity>/<project>": its runs, newest first, a page at a time (server
// cursors), filtered by id on the server.
import { useState } from 'preact/hooks';
import { html } from '../html.js';
import { get } from '../api.js';
import { bytes, enc, runPath, time } from '../format.js';
import { Status, useLoad } from '../widgets.js';

export function Runs({ e, p }) {
  const [q, setQ] = useState('');
  const [cursors, setCursors] = useState(['']);  // the cursor of each page seen
  const cursor = cursors[cursors.length - 1];
  const url = `/api/v1/projects/${enc(e)}/${enc(p)}/runs?limit=50&q=${enc(q)}&cursor=${enc(cursor)}`;
  const [data, error] = useLoad(() => get(url), [url]);
  const onFilter = (ev) => {
    setQ(ev.currentTarget.value);
    setCursors(['']);
  };
  return html`<section>
    <h1>${p}</h1>
    <label class="filter">Filter by id <input id="run-filter" type="search" value=${q} onInput=${onFilter} /></label>
    ${!data ? html`<${Status} error=${error} />` : html`
      <table id="runs">
        <thead><tr><th scope="col">Run</th><th scope="col">State</th><th scope="col">Created</th>
          <th scope="col">Updated</th><th scope="col" class="num">Files</th><th scope="col" class="num">Size</th></tr></thead>
        <tbody>
          ${data.runs.map((r) => html`<tr key=${r.id}>
            <td><a href=${runPath(e, p, r.id)}>${r.id}</a></td><td>${r.state}</td>
            <td>${time(r.created_at)}</td><td>${time(r.updated_at)}</td>
            <td class="num">${r.files}</td><td class="num">${bytes(r.bytes)}</td>
          </tr>`)}
        </tbody>
      </table>
      ${data.runs.length === 0 && html`<p>No runs${q ? ` whose id contains “${q}”` : ''}.</p>`}
      <div class="pager">
        <button type="button" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>Newer</button>
        <button type="button" id="older" disabled=${!data.next_cursor}
          onClick=${() => setCursors([...cursors, data.next_cursor])}>Older</button>
      </div>`}
  </section>`;
}
