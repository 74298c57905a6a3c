// A report as a printable HTML page. Every value from data (ids, zone names, fault codes, alert
// texts) is escaped; the page has no scripts and no external resources.
import type { Layout } from './layout.ts';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#111}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #999;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eee}.empty{color:#444}.note{font-size:.9em;color:#333}@media print{body{margin:0}h2{break-after:avoid}tr{break-inside:avoid}}`;

export function layoutHtml(l: Layout): string {
  const e = escapeHtml;
  const tables = l.tables.map((t) => {
    const body =
      t.rows.length === 0
        ? `<p class="empty">${e(t.empty)}</p>`
        : `<table><thead><tr>${t.columns.map((c) => `<th scope="col">${e(c)}</th>`).join('')}</tr></thead><tbody>${t.rows.map((r) => `<tr>${r.map((c) => `<td>${e(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
    return `<section><h2>${e(t.title)}</h2>${body}</section>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${e(l.title)}</title><style>${STYLE}</style></head>
<body><h1>${e(l.title)}</h1><p>${e(l.subtitle)}</p>
${tables.join('\n')}
${l.notes.map((note) => `<p class="note">${e(note)}</p>`).join('\n')}
</body></html>
`;
}
