// Small pure helpers shared by the alerts and the dashboard.
{
  // A YAML `>-` folded scalar: the lines of a ||| block joined by spaces, so
  // descriptions read as prose here and render as one paragraph.
  fold(s):: std.join(' ', std.split(std.rstripChars(s, '\n'), '\n')),

  // '10m' -> '10 minutes', '1h' -> '1 hour'; anything else (1h30m) as is.
  durationWords(d)::
    local unit = std.substr(d, std.length(d) - 1, 1);
    local num = std.substr(d, 0, std.length(d) - 1);
    local names = { s: 'second', m: 'minute', h: 'hour', d: 'day' };
    local digits = std.length(num) > 0 && std.length([c for c in std.stringChars(num) if !std.member('0123456789', c)]) == 0;
    if std.objectHas(names, unit) && digits then
      local n = std.parseInt(num);
      '%d %s%s' % [n, names[unit], if n == 1 then '' else 's']
    else d,

  // 86400 -> '24 h', 600 -> '10 min', 45 -> '45 s' (thresholds in prose).
  secondsShort(s)::
    if s % 3600 == 0 then '%d h' % (s / 3600)
    else if s % 60 == 0 then '%d min' % (s / 60)
    else '%d s' % s,

  // 0.8 -> '80%'.
  percent(f):: '%d%%' % std.floor(f * 100 + 0.5),

  // A number as PromQL reads it: '%g' avoids 0.10000000000000001.
  num(x):: '%g' % x,
}
