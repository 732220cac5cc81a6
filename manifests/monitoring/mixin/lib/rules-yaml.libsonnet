// A YAML writer for Prometheus rule groups that reads like a hand-written
// rule file: fields in the usual order, expressions as `|` blocks and
// descriptions as `>-` paragraphs wrapped at about 80 columns. (It is also
// about ten times faster than std.manifestYamlDoc in the C++ jsonnet Debian
// ships.) scripts/check-ship parses what it writes and compares it with
// prometheusAlerts, so a string it cannot carry verbatim fails the check.
local quote(s) = "'" + std.strReplace(s, "'", "''") + "'";

// Words of s, keeping each Go template action {{ ... }} in one piece.
local tokens(s) =
  // Object fields are not memoised in jsonnet: read each one once, into a local.
  local step(acc, w) =
    local toks = acc.toks, depth = acc.depth, n = std.length(toks);
    local opens = std.length(std.findSubstr('{{', w)) - std.length(std.findSubstr('}}', w));
    if depth > 0
    then { toks: toks[:n - 1] + [toks[n - 1] + ' ' + w], depth: depth + opens }
    else { toks: toks + [w], depth: opens };
  std.foldl(step, std.split(s, ' '), { toks: [], depth: 0 }).toks;

// Greedy wrap; joined with single spaces, the lines give back s, which is
// what YAML folding does with them.
local wrap(s, width) =
  local step(lines, t) =
    local last = lines[std.length(lines) - 1];
    if std.length(lines) > 0 && last != '' && std.length(last) + 1 + std.length(t) <= width
    then lines[:std.length(lines) - 1] + [last + ' ' + t]
    else (if std.length(lines) == 1 && lines[0] == '' then [] else lines) + [t];
  std.foldl(step, tokens(s), ['']);

local block(indent, style, lines) =
  style + '\n' + std.join('', [indent + l + '\n' for l in lines]);

local rule(i, r) =
  local in2 = i + '  ', in4 = i + '    ', in6 = i + '      ';
  i + '- alert: ' + r.alert + '\n'
  + in2 + 'expr: ' + block(in4, '|', std.split(std.rstripChars(r.expr, '\n'), '\n'))
  + in2 + 'for: ' + r['for'] + '\n'
  + in2 + 'labels:\n'
  + std.join('', [in4 + k + ': ' + r.labels[k] + '\n' for k in std.objectFields(r.labels)])
  + in2 + 'annotations:\n'
  + in4 + 'summary: ' + quote(r.annotations.summary) + '\n'
  + in4 + 'description: ' + block(in6, '>-', wrap(r.annotations.description, 80 - std.length(in6)))
  + in4 + 'runbook_url: ' + quote(r.annotations.runbook_url) + '\n';

{
  // The `groups:` document, every line prefixed with indent.
  groups(rules, indent='')::
    indent + 'groups:\n'
    + std.join('', [
      indent + '  - name: ' + g.name + '\n'
      + indent + '    rules:\n'
      + std.join('\n', [rule(indent + '      ', r) for r in g.rules])
      for g in rules.groups
    ]),
}
