// A journey drawn as a graph (SVG): a box per step with its kind, what it does and its counters,
// edges labelled with a branch's or split's outcome, laid out top to bottom by
// src/journeys/layout.ts. A step the API's error names is outlined red with the message.
import { useMemo } from 'react';
import { useI18n, type Key } from '../i18n';
import { formatCount } from '../format';
import { durationParts, type EdgeLabel, type GraphNode, type JourneyGraph as Graph } from '../journeys/graph';
import { edgePath, layout } from '../journeys/layout';
import type { StepCounts } from '../journeys/definition';

const WIDTH = 264;
const SMALL = { width: 200, height: 40 };
const HEIGHT = { plain: 96, send: 134, bare: 52 };
const COUNTS = ['entered', 'waiting', 'completed', 'exited', 'converted'] as const;
const MESSAGES = ['sent', 'delivered', 'opened', 'clicked'] as const;

function size(n: GraphNode, withCounts: boolean) {
  if (n.kind === 'entry' || n.kind === 'missing') return SMALL;
  if (!withCounts) return { width: WIDTH, height: HEIGHT.bare };
  return { width: WIDTH, height: n.kind === 'send' ? HEIGHT.send : HEIGHT.plain };
}

export function JourneyGraph({
  graph,
  counts,
  fault,
}: {
  graph: Graph;
  /** Each step's counters; null for a journey not saved yet (boxes without counters). */
  counts: Map<string, StepCounts> | null;
  /** The node the API's error names, and its message. */
  fault: { node: string; message: string } | null;
}) {
  const { t, lang } = useI18n();
  const withCounts = counts !== null;
  const placed = useMemo(
    () => layout(graph.nodes.map((n) => ({ id: n.id, ...size(n, withCounts) })), graph.edges),
    [graph, withCounts],
  );
  const n = (v: number) => formatCount(v, lang);
  const duration = (s: number) => {
    const d = durationParts(s);
    return t(`journeys.unit.${d.unit}` as Key, { n: d.n });
  };
  const edgeText = (label: EdgeLabel) =>
    label.kind === 'next' ? null : label.kind === 'split' ? `${label.percent}%` : t(`journeys.edge.${label.kind}` as Key);

  const describe = (node: GraphNode): string => {
    const kind = t(`journeys.kind.${node.kind}` as Key);
    switch (node.kind) {
      case 'send':
        return node.channel ? `${kind} · ${t(`channel.${node.channel}` as Key)}` : kind;
      case 'wait':
        if (node.localTime) return `${kind} · ${t('journeys.wait.until', { time: node.localTime })}`;
        return node.seconds !== undefined ? `${kind} ${duration(node.seconds)}` : kind;
      case 'wait_for_event':
        return `${kind} · ${t('journeys.waitEvent', { event: node.event ?? '?', duration: duration(node.seconds ?? 0) })}`;
      case 'branch':
        if (node.engagement) {
          const what = t(`journeys.engagement.${node.engagement.what}` as Key);
          return `${kind} · ${t('journeys.rule.engagement', { what, step: node.engagement.step })}`;
        }
        return `${kind} · ${t(node.segment ? 'journeys.rule.segment' : 'journeys.rule.other')}`;
      case 'split':
        return `${kind} · ${t('journeys.split.ways', { n: graph.edges.filter((e) => e.from === node.id).length })}`;
      default:
        return kind;
    }
  };

  const faultBox = fault ? placed.nodes.get(fault.node) : undefined;
  return (
    <div className="journey-graph" data-testid="journey-graph">
      <svg
        width={placed.width}
        height={placed.height + (faultBox ? 70 : 0)}
        role="img"
        aria-label={t('journeys.graph')}
      >
        <defs>
          <marker id="jg-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" className="jg-arrowhead" />
          </marker>
        </defs>
        {placed.edges.map((e, i) => {
          const label = edgeText(graph.edges[i].label);
          const p = e.points[0];
          const q = e.points[1] ?? p;
          return (
            <g key={i} className={`jg-edge${e.back ? ' back' : ''}`} data-edge={`${graph.edges[i].from}.${graph.edges[i].field}`}>
              <path d={edgePath(e.points, e.self)} markerEnd="url(#jg-arrow)" />
              {label && p && (
                <text x={p.x + (q.x - p.x) * 0.3 + 6} y={p.y + (q.y - p.y) * 0.3 + 4} className="jg-edge-label">
                  {label}
                </text>
              )}
            </g>
          );
        })}
        {graph.nodes.map((node) => {
          const box = placed.nodes.get(node.id);
          if (!box) return null;
          const c = counts?.get(node.id);
          const faulty = fault?.node === node.id;
          const cls = `jg-node kind-${node.kind}${faulty ? ' fault' : ''}`;
          if (node.kind === 'entry' || node.kind === 'missing') {
            const text =
              node.kind === 'missing'
                ? t('journeys.kind.missing', { step: node.step })
                : t('journeys.entryNode', {
                    entry:
                      node.entryKind === 'event'
                        ? t('journeys.entry.event', { event: node.event ?? '' })
                        : t((['segment', 'manual'].includes(node.entryKind ?? '') ? `journeys.entry.${node.entryKind}` : 'journeys.entry.unknown') as Key),
                  });
            return (
              <g key={node.id} className={cls} transform={`translate(${box.x},${box.y})`} data-testid={node.kind === 'entry' ? 'journey-entry' : 'journey-missing'}>
                <rect width={box.width} height={box.height} rx={20} />
                <text x={box.width / 2} y={box.height / 2 + 5} textAnchor="middle" className="jg-small">
                  {text}
                </text>
              </g>
            );
          }
          const cell = box.width / COUNTS.length;
          return (
            <g key={node.id} className={cls} transform={`translate(${box.x},${box.y})`} data-testid="journey-step" data-step={node.id} data-fault={faulty || undefined}>
              <title>{faulty && fault ? `${node.id}: ${fault.message}` : node.id}</title>
              <rect width={box.width} height={box.height} rx={8} />
              <rect width={6} height={box.height} rx={3} className="jg-stripe" />
              <text x={16} y={21} className="jg-id">{node.id}</text>
              <text x={16} y={39} className="jg-kind">{describe(node)}</text>
              {counts && COUNTS.map((k, i) => (
                <g key={k} transform={`translate(${8 + i * ((box.width - 8) / COUNTS.length)},52)`}>
                  <text x={cell / 2 - 4} y={14} textAnchor="middle" className="jg-count" data-count={k}>
                    {n(c?.[k] ?? 0)}
                  </text>
                  <text x={cell / 2 - 4} y={30} textAnchor="middle" className="jg-count-label">
                    {t(`journeys.count.${k}` as Key)}
                  </text>
                </g>
              ))}
              {counts && node.kind === 'send' && (
                <g transform="translate(8,92)">
                  <line x1={0} x2={box.width - 16} y1={0} y2={0} className="jg-rule" />
                  {MESSAGES.map((k, i) => {
                    const w = (box.width - 8) / MESSAGES.length;
                    return (
                      <g key={k} transform={`translate(${i * w},0)`}>
                        <text x={w / 2 - 4} y={18} textAnchor="middle" className="jg-count msg" data-count={k}>
                          {n(c?.messages?.[k] ?? 0)}
                        </text>
                        <text x={w / 2 - 4} y={33} textAnchor="middle" className="jg-count-label">
                          {t(`journeys.count.${k}` as Key)}
                        </text>
                      </g>
                    );
                  })}
                </g>
              )}
            </g>
          );
        })}
        {faultBox && fault && (
          <foreignObject x={Math.max(0, faultBox.x - 20)} y={faultBox.y + faultBox.height + 6} width={faultBox.width + 40} height={64}>
            <div className="jg-fault" role="alert" data-testid="journey-step-error">
              {fault.message}
            </div>
          </foreignObject>
        )}
      </svg>
    </div>
  );
}
