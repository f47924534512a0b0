// A line diff (longest common subsequence), enough for configs and logs:
// inputs over kMaxLines lines on either side are refused rather than slow.
export const kMaxLines = 4000;

// [{op: ' ' | '-' | '+', text}] turning `a` into `b`; null when too large.
export function diffLines(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  if (x.length > kMaxLines || y.length > kMaxLines) return null;
  // Common head and tail first: most versions differ in a few lines.
  let head = 0;
  while (head < x.length && head < y.length && x[head] === y[head]) head++;
  let tail = 0;
  while (tail < x.length - head && tail < y.length - head && x[x.length - 1 - tail] === y[y.length - 1 - tail]) tail++;
  const xs = x.slice(head, x.length - tail);
  const ys = y.slice(head, y.length - tail);
  const n = xs.length;
  const m = ys.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = xs[i] === ys[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = x.slice(0, head).map((text) => ({ op: ' ', text }));
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && xs[i] === ys[j]) {
      out.push({ op: ' ', text: xs[i++] });
      j++;
    } else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out.push({ op: '-', text: xs[i++] });
    } else {
      out.push({ op: '+', text: ys[j++] });
    }
  }
  for (const text of x.slice(x.length - tail)) out.push({ op: ' ', text });
  return out;
}
