/**
 * Just enough of Go's text/template lexing to check a Helm chart without the helm binary: where the actions
 * are, what `.Values` paths they read, and the YAML left once they are blanked out.
 */

export type TemplateAction = Readonly<{ start: number; end: number; body: string }>;

/** Every `{{ ... }}` action of a template, quoted strings and comments inside it included. */
export function templateActions(text: string): TemplateAction[] {
  const actions: TemplateAction[] = [];
  let i = 0;
  while ((i = text.indexOf('{{', i)) !== -1) {
    const start = i;
    let j = i + 2;
    if (text[j] === '-' && /\s/.test(text[j + 1] ?? '')) j += 2;
    while (/\s/.test(text[j] ?? '')) j++;
    if (text.startsWith('/*', j)) {
      const close = text.indexOf('*/', j + 2);
      if (close === -1) throw new Error(`unclosed template comment at offset ${start}`);
      const after = /^\s*-?\s*\}\}/.exec(text.slice(close + 2));
      if (!after) throw new Error(`template comment not closed by }} at offset ${start}`);
      const end = close + 2 + after[0].length;
      actions.push({ start, end, body: text.slice(start, end) });
      i = end;
      continue;
    }
    for (;;) {
      const c = text[j];
      if (c === undefined) throw new Error(`unclosed template action at offset ${start}`);
      if (c === '"') {
        j++;
        while (text[j] !== '"') {
          if (text[j] === undefined || text[j] === '\n') throw new Error(`unclosed string in the action at offset ${start}`);
          j += text[j] === '\\' ? 2 : 1;
        }
        j++;
      } else if (c === '`') {
        const close = text.indexOf('`', j + 1);
        if (close === -1) throw new Error(`unclosed raw string in the action at offset ${start}`);
        j = close + 1;
      } else if (c === "'") {
        j = text[j + 1] === '\\' ? text.indexOf("'", j + 3) + 1 : j + 3;
      } else if (c === '}' && text[j + 1] === '}') {
        j += 2;
        break;
      } else {
        j++;
      }
    }
    actions.push({ start, end: j, body: text.slice(start, j) });
    i = j;
  }
  return actions;
}

/**
 * The template with its actions blanked out: a line made only of actions (control flow, includes that
 * render whole blocks, comments) disappears; an action amid other text becomes `placeholder`. Both branches
 * of an if/else stay, so templates keep their branches free of duplicate keys.
 */
export function blankTemplate(text: string, placeholder = 'x'): string {
  const MARK = '\u0000';
  let marked = '';
  let last = 0;
  for (const a of templateActions(text)) {
    marked += text.slice(last, a.start) + MARK;
    last = a.end;
  }
  marked += text.slice(last);
  const lines: string[] = [];
  for (const line of marked.split('\n')) {
    if (line.includes(MARK) && line.split(MARK).join('').trim() === '') continue;
    lines.push(line.split(MARK).join(placeholder));
  }
  return lines.join('\n');
}

/** `.Values.a.b.c` (or `$.Values...`) paths read by a template's actions, as ['a', 'b', 'c']. */
export function valuesPaths(text: string): string[][] {
  const paths: string[][] = [];
  for (const a of templateActions(text)) {
    if (a.body.replace(/^\{\{-?\s*/, '').startsWith('/*')) continue;
    const withoutStrings = a.body.replace(/"(?:[^"\\]|\\.)*"|`[^`]*`/g, '""');
    for (const m of withoutStrings.matchAll(/(?:^|[^\w.])\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
      paths.push(m[1]!.slice(1).split('.'));
    }
  }
  return paths;
}

/** Names of the templates a chart file calls with `include` or `template`. */
export function includedTemplateNames(text: string): string[] {
  const names: string[] = [];
  for (const a of templateActions(text)) {
    for (const m of a.body.matchAll(/\b(?:include|template)\s+"([^"]+)"/g)) names.push(m[1]!);
  }
  return names;
}

/** Names a chart file defines with `define`. */
export function definedTemplateNames(text: string): string[] {
  const names: string[] = [];
  for (const a of templateActions(text)) {
    const m = /^\{\{-?\s*define\s+"([^"]+)"/.exec(a.body);
    if (m) names.push(m[1]!);
  }
  return names;
}

/** Paths read with `.Files.Get "<path>"`. */
export function filesGetPaths(text: string): string[] {
  const paths: string[] = [];
  for (const a of templateActions(text)) {
    for (const m of a.body.matchAll(/\.Files\.Get\s+"([^"]+)"/g)) paths.push(m[1]!);
  }
  return paths;
}
