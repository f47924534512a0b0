// "/~/teams": the teams, their members and roles. An admin of a team (or the
// server's admin) changes roles, adds and removes members, and reads the
// team's audit log here.
import { useEffect, useState } from 'preact/hooks';
import { html } from '../html.js';
import { del, get, put } from '../api.js';
import { bytes, enc, time } from '../format.js';

const kRoles = ['viewer', 'member', 'admin'];

function RoleSelect({ value, onChange, id, name }) {
  return html`<select id=${id} name=${name} value=${value} onChange=${(e) => onChange(e.currentTarget.value)}>
    ${kRoles.map((r) => html`<option value=${r}>${r}</option>`)}</select>`;
}

function Audit({ team }) {
  const [events, setEvents] = useState(null);
  useEffect(() => {
    get(`/api/v1/audit?entity=${enc(team)}`).then((r) => setEvents(r.events.slice(-100).reverse()), () => setEvents([]));
  }, [team]);
  if (!events) return null;
  return html`<h3>Audit log (newest first)</h3>
    <table class="audit"><thead><tr><th>Time</th><th>Actor</th><th>Action</th><th>Target</th><th>Count</th>
      <th>Bytes</th></tr></thead>
    <tbody>${events.map((e) => html`<tr><td>${time(e.time)}</td><td>${e.actor}</td><td>${e.action}</td>
      <td>${e.target}</td><td>${e.count}</td><td>${bytes(e.bytes || 0)}</td></tr>`)}</tbody></table>`;
}

function Team({ team, manage, onChanged, onError }) {
  const act = async (fn) => {
    try {
      await fn();
    } catch (e) {
      onError(e.message);
    }
    onChanged();
  };
  const member = (user) => `/api/v1/teams/${enc(team.name)}/members/${enc(user)}`;
  const add = (ev) => {
    ev.preventDefault();
    const f = ev.currentTarget.elements;
    act(() => put(member(f.user.value), { role: f.role.value }));
  };
  return html`<section class="team" data-team=${team.name}>
    <h2>${team.name}</h2>
    <table><thead><tr><th>User</th><th>Role</th><th></th></tr></thead><tbody>
      ${team.members.map((m) => html`<tr><td>${m.user}</td>
        <td>${manage ? html`<${RoleSelect} id=${`role-${m.user}`} value=${m.role}
              onChange=${(r) => act(() => put(member(m.user), { role: r }))} />` : m.role}</td>
        <td>${manage && html`<button type="button" onClick=${() => act(() => del(member(m.user)))}>Remove</button>`}</td>
      </tr>`)}</tbody></table>
    ${manage && html`<form class="add-member" onSubmit=${add}>
      <label>User <input name="user" required /></label>
      <label>Role <${RoleSelect} name="role" value="viewer" onChange=${() => {}} /></label>
      <button type="submit">Add member</button></form>`}
    ${manage && html`<${Audit} team=${team.name} />`}
  </section>`;
}

export function Teams({ session }) {
  const [teams, setTeams] = useState(null);
  const [error, setError] = useState(null);
  const load = () => get('/api/v1/teams').then((r) => setTeams(r.teams), (e) => setError(e.message));
  useEffect(() => { load(); }, []);
  const roles = session.roles || {};
  return html`<section>
    <h1>Teams</h1>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${teams && teams.length === 0 && html`<p>No teams yet: <code>cairn teams create TEAM</code>.</p>`}
    ${teams && teams.map((t) => html`<${Team} key=${t.name} team=${t}
      manage=${!session.read_only && (session.admin || roles[t.name] === 'admin')}
      onChanged=${load} onError=${setError} />`)}
  </section>`;
}
