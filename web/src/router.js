// Client-side navigation: the page is chosen from location.pathname (the
// server answers index.html at every page URL, so every URL can be reloaded,
// bookmarked, or pasted into `cairn restore --run`).
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set();

export function navigate(path) {
  if (path === location.pathname + location.search) return;
  history.pushState(null, '', path);
  listeners.forEach((f) => f());
  window.scrollTo(0, 0);
}

export function usePath() {
  const [path, setPath] = useState(location.pathname + location.search);
  useEffect(() => {
    const update = () => setPath(location.pathname + location.search);
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return path;
}

// Same-origin links of the UI navigate without reloading; downloads,
// modified clicks and API links keep the browser's own behaviour.
export function interceptLinks() {
  document.addEventListener('click', (ev) => {
    const a = ev.target.closest && ev.target.closest('a[href]');
    if (!a || a.hasAttribute('download') || a.target || ev.button !== 0) return;
    if (ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
    ev.preventDefault();
    navigate(url.pathname + url.search);
  });
}

// The page a path names: {page, e, p, r, name}; names and ids decoded.
export function parsePath(pathname) {
  const parts = pathname.split('/').slice(1);
  const d = decodeURIComponent;
  if (parts[0] === '~') return { page: parts[1] || 'home' };
  if (parts.length === 1 && parts[0] === '') return { page: 'home' };
  if (parts.length === 1) return { page: 'entity', e: d(parts[0]) };
  if (parts.length === 2) return { page: 'project', e: d(parts[0]), p: d(parts[1]) };
  if (parts.length === 4 && parts[2] === 'runs') return { page: 'run', e: d(parts[0]), p: d(parts[1]), r: d(parts[3]) };
  if (parts.length >= 6 && parts[2] === 'runs' && parts[4] === 'files') {
    const name = parts.slice(5).map(d).join('/');
    return { page: 'file', e: d(parts[0]), p: d(parts[1]), r: d(parts[3]), name };
  }
  return { page: 'notfound' };
}
