// Sign in with user + password or with an API key. Credentials go in a POST
// body only; the server answers with an HttpOnly session cookie.
import { useState } from 'preact/hooks';
import { html } from '../html.js';
import { signIn } from '../api.js';

function useSubmit(onSignedIn, credentials) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    setBusy(true);
    setError(null);
    try {
      const s = await signIn(credentials(form.elements));
      form.reset();
      onSignedIn(s);
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  };
  return [submit, error, busy];
}

export function SignIn({ onSignedIn }) {
  const [byKey, keyError, keyBusy] = useSubmit(onSignedIn, (f) => ({ key: f.key.value }));
  const [byUser, userError, userBusy] = useSubmit(onSignedIn, (f) => ({ user: f.user.value, password: f.password.value }));
  return html`<section class="signin">
    <h1>Sign in</h1>
    <form id="signin-user" onSubmit=${byUser}>
      <label for="user">User</label>
      <input id="user" name="user" autocomplete="username" required spellcheck="false" />
      <label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password" required />
      <button type="submit" disabled=${userBusy}>Sign in</button>
      ${userError && html`<p class="error" role="alert">${userError}</p>`}
    </form>
    <h2>Or with an API key</h2>
    <form id="signin-key" onSubmit=${byKey} autocomplete="off">
      <label for="key">API key</label>
      <input id="key" name="key" type="password" required spellcheck="false" />
      <button type="submit" disabled=${keyBusy}>Sign in with the key</button>
      ${keyError && html`<p class="error" role="alert">${keyError}</p>`}
    </form>
    <p class="hint">A key from <code>cairn login</code> or your admin works too. Neither is kept in a URL or in
      storage: the server gives this browser a session cookie instead.</p>
  </section>`;
}
