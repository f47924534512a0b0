// Sign in with an API key. The key goes in a POST body only; the server
// answers with an HttpOnly session cookie.
import { useState } from 'preact/hooks';
import { html } from '../html.js';
import { signIn } from '../api.js';

export function SignIn({ onSignedIn }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    setBusy(true);
    setError(null);
    try {
      const s = await signIn(form.elements.key.value);
      form.reset();
      onSignedIn(s);
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<section class="signin">
    <h1>Sign in</h1>
    <form onSubmit=${submit} autocomplete="off">
      <label for="key">API key</label>
      <input id="key" name="key" type="password" required autofocus spellcheck="false" />
      <button type="submit" disabled=${busy}>Sign in</button>
      ${error && html`<p class="error" role="alert">${error}</p>`}
    </form>
    <p class="hint">Use a key from <code>cairn login</code> or your admin. It is kept in no URL and no storage:
      the server gives this browser a session cookie instead.</p>
  </section>`;
}
