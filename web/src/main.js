// The web UI's shell: the session, the header, and the page for the URL.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { loadSession, signOut } from './api.js';
import { interceptLinks, navigate, parsePath, usePath } from './router.js';
import { SignIn } from './pages/signin.js';
import { Entities, Projects } from './pages/entities.js';
import { Runs } from './pages/runs.js';
import { RunFiles } from './pages/run.js';
import { FilePage } from './pages/file.js';
import { Keys } from './pages/keys.js';
import { Teams } from './pages/teams.js';
import { Crumbs } from './widgets.js';

function Page({ route, session }) {
  switch (route.page) {
    case 'home':
      return html`<${Entities} session=${session} />`;
    case 'entity':
      return html`<${Projects} ...${route} />`;
    case 'project':
      return html`<${Runs} ...${route} />`;
    case 'run':
      return html`<${RunFiles} ...${route} />`;
    case 'file':
      return html`<${FilePage} ...${route} />`;
    case 'keys':
      return html`<${Keys} session=${session} />`;
    case 'teams':
      return html`<${Teams} session=${session} />`;
    default:
      return html`<p>No such page. <a href="/">Home</a></p>`;
  }
}

function App() {
  const path = usePath();
  const [session, setSession] = useState(undefined);
  useEffect(() => {
    loadSession().then(setSession, () => setSession(null));
  }, []);
  if (session === undefined) return html`<p class="loading">Loading…</p>`;
  const route = parsePath(location.pathname);
  const onSignOut = async () => {
    await signOut();
    setSession(null);
    navigate('/');
  };
  const who = session && (session.admin ? 'admin' : session.entity);
  return html`
    <header class="top">
      <a class="brand" href="/">Cairn</a>
      ${session && html`<nav aria-label="Account">
        <span class="who">${who}${session.read_only ? ' (read-only)' : ''}</span>
        <a href="/~/teams">Teams</a>
        <a href="/~/keys">Keys</a>
        <button type="button" id="sign-out" onClick=${onSignOut}>Sign out</button>
      </nav>`}
    </header>
    <main id="main" key=${path}>
      ${session ? html`<${Crumbs} route=${route} /><${Page} route=${route} session=${session} />`
                : html`<${SignIn} onSignedIn=${setSession} />`}
    </main>`;
}

interceptLinks();
render(html`<${App} />`, document.getElementById('app'));
