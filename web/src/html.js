// htm bound to Preact: templates that Preact renders, every interpolated
// value as text (never as HTML).
import { h } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);
