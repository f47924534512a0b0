// "/": the entities this session may see; "/<entity>": its projects.
import { html } from '../html.js';
import { get } from '../api.js';
import { enc, time } from '../format.js';
import { Status, useLoad } from '../widgets.js';

export function Entities() {
  const [data, error] = useLoad(() => get('/api/v1/entities'), []);
  if (!data) return html`<${Status} error=${error} />`;
  return html`<section>
    <h1>Entities</h1>
    ${data.entities.length === 0 && html`<p>No entities yet.</p>`}
    <ul class="list" id="entities">
      ${data.entities.map((e) => html`<li key=${e}><a href=${`/${enc(e)}`}>${e}</a></li>`)}
    </ul>
  </section>`;
}

export function Projects({ e }) {
  const [data, error] = useLoad(() => get(`/api/v1/entities/${enc(e)}/projects`), [e]);
  if (!data) return html`<${Status} error=${error} />`;
  return html`<section>
    <h1>${e}</h1>
    ${data.projects.length === 0 && html`<p>No projects yet.</p>`}
    <table id="projects">
      <thead><tr><th scope="col">Project</th><th scope="col">Created</th></tr></thead>
      <tbody>
        ${data.projects.map(
          (p) => html`<tr key=${p.name}>
            <td><a href=${`/${enc(e)}/${enc(p.name)}`}>${p.name}</a></td><td>${time(p.created_at)}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}
