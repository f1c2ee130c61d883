/**
 * Reports of a bench run: markdown (per scenario: medians, ratios, notes, every run), an SVG chart
 * (req/s and p99 per target and scenario, opens in any browser), and the README's Performance table.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { type Summary, fmt, mdTable, runsTable } from './harness.js';
import type { Ratio, ScenarioResult } from './scenario.js';

export interface BenchReport {
  startedAt: string;
  machine: Record<string, string | number>;
  options: Record<string, unknown>;
  scenarios: ScenarioResult[];
  /** Scenarios that threw (setup or runner failure), with the error. */
  errors: Record<string, string>;
  wallS: number;
}

const GEN_NOTE = 'generator-bound: the load generator used ≥ 90% of a core, so this req/s is a floor of what the target can do';

function targetLabel(s: ScenarioResult, name: string): string {
  const t = s.targets.find((x) => x.name === name);
  return t?.role === 'subject' ? `**${name}**` : name;
}

function isGenBound(x: Summary): boolean {
  return x.genBoundRuns * 2 > x.runs;
}

/** Main table of a scenario: one row per target, autocannon medians (wrk's req/s and p99 alongside when run). */
export function scenarioTable(s: ScenarioResult): string {
  const ac = s.summaries.filter((x) => x.tool === 'autocannon');
  const wrk = (n: string) => s.summaries.find((x) => x.tool === 'wrk' && x.target === n);
  const hasWrk = s.summaries.some((x) => x.tool === 'wrk');
  const head = ['target', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'errors / non-2xx', 'CPU cores', 'CPU µs/req', 'RSS MB', 'generator CPU'];
  if (hasWrk) head.push('wrk req/s', 'wrk p99 ms');
  return mdTable(head, ac.map((x) => {
    const row: (string | number)[] = [
      targetLabel(s, x.target), fmt.int(x.rps) + (isGenBound(x) ? ' ⚑' : ''), fmt.ms(x.p50), fmt.ms(x.p90), fmt.ms(x.p99), fmt.ms(x.max),
      `${x.errors + x.timeouts} / ${x.non2xx}`, fmt.cores(x.targetCpu), x.cpuUsPerReq.toFixed(1), x.rssMb.toFixed(0), fmt.cores(x.genCpu),
    ];
    if (hasWrk) {
      const w = wrk(x.target);
      row.push(w ? fmt.int(w.rps) + (isGenBound(w) ? ' ⚑' : '') : '-', w ? fmt.ms(w.p99) : '-');
    }
    return row;
  }));
}

function ratioRows(rs: Ratio[]): (string | number)[][] {
  return rs.map((r) => [
    `${r.subject} / ${r.baseline}`, r.tool, fmt.ratio(r.rps) + (r.generatorBound ? ' ⚑' : ''), fmt.ratio(r.p99), fmt.ratio(r.cpuUsPerReq),
  ]);
}

export function markdownReport(rep: BenchReport): string {
  const L: string[] = [];
  L.push(`# Benchmark — ${rep.startedAt}`, '');
  L.push(mdTable(['machine', ''], Object.entries(rep.machine).map(([k, v]) => [k, String(v)])), '');
  const o = rep.options;
  L.push(
    `Method: each scenario starts its own processes on free ports; every target is checked for the expected answer, ${Number(o.warmupS) > 0 ? `warmed up (${o.warmupS} s)` : 'not warmed up (--quick)'}, ` +
      `then measured interleaved (A B C … per round) for ${o.rounds} round(s) of ${o.durationS} s with autocannon ` +
      `(${o.connections} connections)${Number(o.wrkRounds) > 0 ? `, and ${o.wrkRounds} round(s) with wrk as a cross-check` : ''}. ` +
      'Numbers are medians across rounds. The gateway and every server run one worker process; all share the machine\'s cores with the load generator. ' +
      '"CPU µs/req" is the CPU of the process doing the work (gateway worker, nginx worker, the server itself) per request: on shared cores the fairest comparison. ' +
      `⚑ = ${GEN_NOTE}; a ratio marked ⚑ involves such a run.`,
    '',
  );
  for (const [k, v] of Object.entries(rep.errors)) L.push(`**${k} failed:** ${v}`, '');
  for (const s of rep.scenarios) {
    L.push(`## ${s.title} (\`${s.name}\`)`, '');
    L.push(`${s.about} Request: ${s.request.method} ${s.request.path}${s.request.bodyBytes > 0 ? ` with a ${fmt.int(s.request.bodyBytes)}-byte body` : ''}.`, '');
    L.push(mdTable(['target', 'role'], s.targets.map((t) => [t.name, `${t.role}: ${t.note}`])), '');
    for (const [k, v] of Object.entries(s.skipped)) L.push(`- skipped ${k}: ${v}`);
    for (const [k, v] of Object.entries(s.failed)) L.push(`- **FAILED ${k}**: ${v}`);
    if (Object.keys(s.skipped).length + Object.keys(s.failed).length > 0) L.push('');
    if (s.summaries.length > 0) {
      L.push(scenarioTable(s), '');
      const gen = s.summaries.filter((x) => isGenBound(x));
      if (gen.length > 0) {
        L.push(`Generator-bound (the load generator, not the target, was the limit): ${gen.map((x) => `${x.target} (${x.tool})`).join(', ')}. ` +
          'Compare CPU µs/req for these targets.', '');
      }
      if (s.ratios.length > 0) {
        L.push(mdTable(['ratio (medians)', 'tool', 'req/s', 'p99', 'CPU per request'], ratioRows(s.ratios)), '');
      }
    }
    if (s.cpuProfileTop) {
      L.push('Gateway worker CPU profile (this run was profiled: its numbers include the profiler), top self time:', '');
      L.push(mdTable(['function', 'self ms', 'share'], s.cpuProfileTop.map((f) => [`\`${f.label}\``, f.ms.toFixed(0), fmt.pct(f.share)])), '');
    }
    L.push('<details><summary>All runs</summary>', '', runsTable(s.runs), '', '</details>', '');
  }
  L.push(`Total wall time: ${rep.wallS.toFixed(0)} s.`, '');
  return L.join('\n');
}

// ---------------------------------------------------------------------------------------------
// SVG chart

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const COLORS = { subject: '#1f6feb', compare: '#8957e5', baseline: '#8b949e' } as const;

/** Two horizontal bar charts per scenario, side by side: req/s and p99 (autocannon medians). */
export function svgChart(rep: BenchReport): string {
  const W = 1000;
  const colW = 330;
  const labelW = 150;
  const barH = 18;
  const gap = 6;
  const parts: string[] = [];
  let y = 50;
  parts.push(`<text x="20" y="28" font-size="18" font-weight="bold">Benchmark ${esc(rep.startedAt)} — ${esc(String(rep.machine.cpu ?? ''))}, ${esc(String(rep.machine.cores ?? ''))} cores</text>`);
  for (const s of rep.scenarios) {
    const rows = s.summaries.filter((x) => x.tool === 'autocannon');
    if (rows.length === 0) continue;
    parts.push(`<text x="20" y="${y + 14}" font-size="15" font-weight="bold">${esc(s.title)}</text>`);
    parts.push(`<text x="${20 + labelW}" y="${y + 34}" font-size="12" fill="#57606a">req/s (higher is better)</text>`);
    parts.push(`<text x="${20 + labelW + colW + 120}" y="${y + 34}" font-size="12" fill="#57606a">p99 latency ms (lower is better)</text>`);
    y += 44;
    const maxRps = Math.max(...rows.map((r) => r.rps), 1);
    const maxP99 = Math.max(...rows.map((r) => r.p99), 0.001);
    for (const r of rows) {
      const t = s.targets.find((x) => x.name === r.target);
      const color = t?.role === 'subject' ? (r.target.includes('@') ? COLORS.compare : COLORS.subject) : COLORS.baseline;
      const gb = isGenBound(r);
      const w1 = Math.max(1, (r.rps / maxRps) * colW);
      const x2 = 20 + labelW + colW + 120;
      const w2 = Math.max(1, (r.p99 / maxP99) * (colW - 40));
      parts.push(`<text x="${20 + labelW - 8}" y="${y + 13}" font-size="12" text-anchor="end">${esc(r.target)}</text>`);
      parts.push(`<rect x="${20 + labelW}" y="${y}" width="${w1.toFixed(1)}" height="${barH}" fill="${color}"${gb ? ' fill-opacity="0.55"' : ''}><title>${esc(`${r.target}: ${fmt.int(r.rps)} req/s${gb ? ` (${GEN_NOTE})` : ''}`)}</title></rect>`);
      parts.push(`<text x="${20 + labelW + w1 + 4}" y="${y + 13}" font-size="11">${fmt.int(r.rps)}${gb ? ' ⚑' : ''}</text>`);
      parts.push(`<rect x="${x2}" y="${y}" width="${w2.toFixed(1)}" height="${barH}" fill="${color}"><title>${esc(`${r.target}: p99 ${fmt.ms(r.p99)} ms`)}</title></rect>`);
      parts.push(`<text x="${x2 + w2 + 4}" y="${y + 13}" font-size="11">${fmt.ms(r.p99)}</text>`);
      y += barH + gap;
    }
    y += 18;
  }
  parts.push(`<text x="20" y="${y + 6}" font-size="11" fill="#57606a">Medians of ${esc(String(rep.options.rounds))} interleaved autocannon round(s) of ${esc(String(rep.options.durationS))} s. Blue: this gateway; purple: a --compare build; grey: baselines.</text>`);
  parts.push(`<text x="20" y="${y + 22}" font-size="11" fill="#57606a">⚑ / faded: ${esc(GEN_NOTE)}.</text>`);
  y += 36;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="system-ui, sans-serif">
<rect width="100%" height="100%" fill="#ffffff"/>
${parts.join('\n')}
</svg>
`;
}

// ---------------------------------------------------------------------------------------------
// README

export const README_START = '<!-- bench:start -->';
export const README_END = '<!-- bench:end -->';

/** The README's table: per scenario, the gateway's req/s and p99 and its ratio to each baseline. */
export function readmeSection(rep: BenchReport): string {
  const m = rep.machine;
  const L: string[] = [
    README_START,
    `Latest \`npm run bench\` (${rep.startedAt.slice(0, 10)}; ${m.cpu}, ${m.cores} cores shared by generator, proxies and upstream; Node ${m.node}, ` +
      `${m.nginx}; ${rep.options.rounds} interleaved rounds × ${rep.options.durationS} s, ${rep.options.connections} connections, autocannon medians):`,
    '',
  ];
  const rows: string[][] = [];
  for (const s of rep.scenarios) {
    for (const x of s.summaries.filter((y) => y.tool === 'autocannon')) {
      const vs = s.ratios.filter((r) => r.tool === 'autocannon' && r.subject === x.target && !r.subject.includes('@'));
      rows.push([
        s.title, targetLabel(s, x.target), fmt.int(x.rps) + (isGenBound(x) ? ' ⚑' : ''), fmt.ms(x.p99), x.cpuUsPerReq.toFixed(1), x.rssMb.toFixed(0),
        vs.map((r) => `${fmt.ratio(r.rps)} ${r.baseline}`).join(', ') || '',
      ]);
    }
  }
  L.push(mdTable(['scenario', 'target', 'req/s', 'p99 ms', 'CPU µs/req', 'RSS MB', 'gateway req/s ratio'], rows), '');
  L.push(`⚑ ${GEN_NOTE}.`, README_END);
  return L.join('\n');
}

/** Replaces the marked section of README.md; false when the markers are missing. */
export function updateReadme(file: string, rep: BenchReport): boolean {
  const text = readFileSync(file, 'utf8');
  const a = text.indexOf(README_START);
  const b = text.indexOf(README_END);
  if (a < 0 || b < a) return false;
  writeFileSync(file, text.slice(0, a) + readmeSection(rep) + text.slice(b + README_END.length));
  return true;
}
