// Previews of a file version (≤ 1 MiB): text (JSON pretty-printed) as text,
// images from a blob: URL; and the diff of two versions.
import { useEffect, useState } from 'preact/hooks';
import { html } from '../html.js';
import { fetchBytes } from '../api.js';
import { diffLines } from '../diff.js';
import { Status } from '../widgets.js';

export const kPreviewLimit = 1 << 20;
const kText = /\.(txt|log|md|json|jsonl|ya?ml|csv|tsv|toml|ini|cfg|conf|py|sh|xml)$/i;
const kImage = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', svg: 'image/svg+xml' };

export const isText = (name) => kText.test(name);
const imageType = (name) => kImage[(name.split('.').pop() || '').toLowerCase()];
export const canPreview = (name) => isText(name) || !!imageType(name);

async function loadText(url) {
  const blob = await fetchBytes(url, kPreviewLimit);
  return blob === null ? null : blob.text();
}

export function Preview({ name, url }) {
  const [state, setState] = useState({});
  useEffect(() => {
    let live = true;
    let objectUrl = null;
    setState({});
    (async () => {
      const type = imageType(name);
      if (type) {
        const blob = await fetchBytes(url, kPreviewLimit);
        if (blob === null) return { big: true };
        objectUrl = URL.createObjectURL(new Blob([blob], { type }));
        return { image: objectUrl };
      }
      let text = await loadText(url);
      if (text === null) return { big: true };
      if (/\.json$/i.test(name)) {
        try { text = JSON.stringify(JSON.parse(text), null, 2); } catch { /* shown as is */ }
      }
      return { text };
    })().then((s) => live && setState(s), (error) => live && setState({ error }));
    return () => {
      live = false;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [name, url]);
  if (state.error) return html`<${Status} error=${state.error} />`;
  if (state.big) return html`<p>Too large to preview (over 1 MiB): download it.</p>`;
  if (state.image) return html`<img id="preview-image" class="preview" src=${state.image} alt=${`Preview of ${name}`} />`;
  if (state.text !== undefined) return html`<pre id="preview" class="preview">${state.text}</pre>`;
  return html`<${Status} />`;
}

export function Diff({ urlA, urlB, labelA, labelB }) {
  const [state, setState] = useState({});
  useEffect(() => {
    let live = true;
    setState({});
    Promise.all([loadText(urlA), loadText(urlB)]).then(([a, b]) => {
      if (!live) return;
      if (a === null || b === null) return setState({ big: true });
      setState({ lines: diffLines(a, b) });
    }, (error) => live && setState({ error }));
    return () => { live = false; };
  }, [urlA, urlB]);
  if (state.error) return html`<${Status} error=${state.error} />`;
  if (state.big || state.lines === null) return html`<p>Too large to compare here.</p>`;
  if (!state.lines) return html`<${Status} />`;
  const cls = { ' ': 'same', '-': 'del', '+': 'add' };
  return html`<div>
    <p class="hint">− ${labelA}, + ${labelB}</p>
    <pre id="diff" class="diff">${state.lines.map((l) => html`<span class=${cls[l.op]}>${`${l.op} ${l.text}\n`}</span>`)}</pre>
  </div>`;
}
