// Small shared pieces: breadcrumbs, loading/error states, copy buttons.
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { enc, filePage, runPath } from './format.js';

export function Crumbs({ route }) {
  const items = [html`<a href="/">Entities</a>`];
  if (route.e) items.push(html`<a href=${`/${enc(route.e)}`}>${route.e}</a>`);
  if (route.p) items.push(html`<a href=${`/${enc(route.e)}/${enc(route.p)}`}>${route.p}</a>`);
  if (route.r) items.push(html`<a href=${runPath(route.e, route.p, route.r)}>${route.r}</a>`);
  if (route.name) items.push(html`<a href=${filePage(route.e, route.p, route.r, route.name)}>${route.name}</a>`);
  if (items.length === 1) return null;
  return html`<nav class="crumbs" aria-label="Breadcrumbs">${items.map(
    (it, i) => html`${i > 0 ? html`<span aria-hidden="true"> / </span>` : ''}${it}`,
  )}</nav>`;
}

// Runs `load` (an async function) when `deps` change: [data, error].
export function useLoad(load, deps) {
  const [state, setState] = useState([null, null]);
  useEffect(() => {
    let live = true;
    setState([null, null]);
    load().then(
      (d) => live && setState([d, null]),
      (e) => live && setState([null, e]),
    );
    return () => {
      live = false;
    };
  }, deps);
  return state;
}

export function Status({ error }) {
  if (error) return html`<p class="error" role="alert">${error.message}</p>`;
  return html`<p class="loading">Loading…</p>`;
}

// A command shown as text with a button that copies it.
export function Copy({ label, text, id }) {
  const [done, setDone] = useState(false);
  const copy = async (ev) => {
    if (navigator.clipboard) {
      await navigator.clipboard.writeText(text);
    } else {
      // Plain HTTP to another host is no secure context: no Clipboard API.
      const range = document.createRange();
      range.selectNodeContents(ev.currentTarget.previousElementSibling);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      document.execCommand('copy');
    }
    setDone(true);
    setTimeout(() => setDone(false), 1500);
  };
  return html`<div class="copy">
    <span class="copy-label">${label}</span>
    <code id=${id}>${text}</code>
    <button type="button" onClick=${copy} aria-label=${`Copy: ${label}`}>${done ? 'Copied' : 'Copy'}</button>
  </div>`;
}
