// A small layered ("Sugiyama") layout for journey graphs, top to bottom: cycles broken by a
// depth-first search (back edges laid out reversed), longest-path layering, dummy nodes on edges
// that span layers, ordering by barycenter sweeps keeping the order with the fewest crossings,
// and x positions pulled toward the neighbours (the mean of a left-packed and a right-packed
// placement, so boxes never overlap). A journey has at most 100 steps: quadratic steps are fine.

export interface LayoutNode {
  id: string;
  width: number;
  height: number;
}
export interface LayoutEdge {
  from: string;
  to: string;
}
export interface Point {
  x: number;
  y: number;
}
export interface PlacedNode extends LayoutNode {
  /** Top-left corner. */
  x: number;
  y: number;
  layer: number;
}
export interface RoutedEdge {
  from: string;
  to: string;
  /** From the source's box to the target's, in the direction of the edge. */
  points: Point[];
  /** The edge goes back up (a cycle) or to its own node. */
  back: boolean;
  self: boolean;
}
export interface Layout {
  nodes: Map<string, PlacedNode>;
  edges: RoutedEdge[];
  width: number;
  height: number;
}

export const SPACING = { layer: 64, node: 40, dummy: 18, margin: 24, loop: 26 };

type Dag = { from: string; to: string; edge: number }[];

/** Marks the edges that close a cycle (found by a depth-first search in input order). */
export function backEdges(nodes: string[], edges: LayoutEdge[]): Set<number> {
  return depthFirst(nodes, edges).back;
}

/** A depth-first search from the nodes in input order: back edges and the discovery order. */
function depthFirst(nodes: string[], edges: LayoutEdge[]): { back: Set<number>; order: string[] } {
  const out = new Map<string, number[]>();
  edges.forEach((e, i) => out.get(e.from)?.push(i) ?? out.set(e.from, [i]));
  const state = new Map<string, 1 | 2>();
  const back = new Set<number>();
  const order: string[] = [];
  const visit = (n: string) => {
    state.set(n, 1);
    order.push(n);
    for (const i of out.get(n) ?? []) {
      const to = edges[i].to;
      if (state.get(to) === 1) back.add(i);
      else if (!state.has(to)) visit(to);
    }
    state.set(n, 2);
  };
  for (const n of nodes) if (!state.has(n)) visit(n);
  return { back, order };
}

/** Longest-path layers over a DAG: each node one below its lowest predecessor. */
export function longestPathLayers(nodes: string[], dag: { from: string; to: string }[]): Map<string, number> {
  const layer = new Map(nodes.map((n) => [n, 0]));
  const indegree = new Map(nodes.map((n) => [n, 0]));
  for (const e of dag) indegree.set(e.to, (indegree.get(e.to) ?? 0) + 1);
  const todo = nodes.filter((n) => indegree.get(n) === 0);
  while (todo.length) {
    const n = todo.shift() as string;
    for (const e of dag) {
      if (e.from !== n) continue;
      layer.set(e.to, Math.max(layer.get(e.to) ?? 0, (layer.get(n) ?? 0) + 1));
      const left = (indegree.get(e.to) ?? 0) - 1;
      indegree.set(e.to, left);
      if (left === 0) todo.push(e.to);
    }
  }
  return layer;
}

/** Crossings between two adjacent layers, given each node's position in its layer. */
export function crossings(links: [number, number][]): number {
  let n = 0;
  for (let i = 0; i < links.length; i++) {
    for (let j = i + 1; j < links.length; j++) {
      const [a1, b1] = links[i];
      const [a2, b2] = links[j];
      if ((a1 - a2) * (b1 - b2) < 0) n++;
    }
  }
  return n;
}

export function layout(nodes: LayoutNode[], edges: LayoutEdge[]): Layout {
  const ids = nodes.map((n) => n.id);
  const size = new Map(nodes.map((n) => [n.id, n]));
  const { back, order: discovered } = depthFirst(ids, edges);
  const dagEdges = edges
    .map((e, i) => ({ e, i }))
    .filter(({ e }) => e.from !== e.to && size.has(e.from) && size.has(e.to))
    .map(({ e, i }) => (back.has(i) ? { from: e.to, to: e.from, edge: i } : { ...e, edge: i }));
  const layerOf = longestPathLayers(ids, dagEdges);

  // Dummy nodes: every DAG edge becomes a chain of one-layer links.
  const chains = new Map<number, string[]>();
  const links: Dag = [];
  for (const e of dagEdges) {
    const chain = [e.from];
    for (let l = (layerOf.get(e.from) ?? 0) + 1; l < (layerOf.get(e.to) ?? 0); l++) {
      const dummy = `~${e.edge}:${l}`;
      layerOf.set(dummy, l);
      chain.push(dummy);
    }
    chain.push(e.to);
    chains.set(e.edge, chain);
    for (let k = 1; k < chain.length; k++) links.push({ from: chain[k - 1], to: chain[k], edge: e.edge });
  }
  const depth = Math.max(0, ...layerOf.values()) + 1;
  const layers: string[][] = Array.from({ length: depth }, () => []);
  // Initial order: as the search found them (a branch's `then` before its `else`), dummies
  // after the node they leave from.
  const rank = new Map<string, number>();
  discovered.forEach((id, i) => rank.set(id, i));
  for (const [, chain] of chains) chain.forEach((n, k) => rank.has(n) || rank.set(n, (rank.get(chain[0]) ?? 0) + k / 100));
  for (const [n, l] of layerOf) layers[l].push(n);
  for (const layer of layers) layer.sort((a, b) => (rank.get(a) ?? 0) - (rank.get(b) ?? 0));

  const preds = new Map<string, string[]>();
  const succs = new Map<string, string[]>();
  for (const { from, to } of links) {
    succs.get(from)?.push(to) ?? succs.set(from, [to]);
    preds.get(to)?.push(from) ?? preds.set(to, [from]);
  }
  const positions = (order: string[][]) => {
    const pos = new Map<string, number>();
    for (const layer of order) layer.forEach((n, i) => pos.set(n, i));
    return pos;
  };
  const totalCrossings = (order: string[][]) => {
    const pos = positions(order);
    let n = 0;
    for (let l = 0; l + 1 < order.length; l++) {
      const between = links
        .filter((k) => layerOf.get(k.from) === l)
        .map((k): [number, number] => [pos.get(k.from) ?? 0, pos.get(k.to) ?? 0]);
      n += crossings(between);
    }
    return n;
  };

  // Ordering: barycenter sweeps down (by predecessors) and up (by successors); keep the best.
  let best = layers.map((l) => [...l]);
  let bestCrossings = totalCrossings(best);
  const order = layers.map((l) => [...l]);
  for (let sweep = 0; sweep < 8 && bestCrossings > 0; sweep++) {
    const down = sweep % 2 === 0;
    const pos = positions(order);
    const range = down ? [...order.keys()].slice(1) : [...order.keys()].reverse().slice(1);
    for (const l of range) {
      const neighbours = down ? preds : succs;
      const bary = new Map<string, number>();
      for (const n of order[l]) {
        const ns = neighbours.get(n) ?? [];
        bary.set(n, ns.length ? ns.reduce((s, m) => s + (pos.get(m) ?? 0), 0) / ns.length : (pos.get(n) ?? 0));
      }
      order[l].sort((a, b) => (bary.get(a) ?? 0) - (bary.get(b) ?? 0));
      order[l].forEach((n, i) => pos.set(n, i));
    }
    const c = totalCrossings(order);
    if (c < bestCrossings) {
      best = order.map((l) => [...l]);
      bestCrossings = c;
    }
  }

  // x: centres pulled toward the neighbours' centres, never closer than the spacing.
  const width = (n: string) => size.get(n)?.width ?? 0;
  const gap = (a: string, b: string) =>
    (width(a) + width(b)) / 2 + (size.has(a) && size.has(b) ? SPACING.node : SPACING.dummy);
  const cx = new Map<string, number>();
  for (const layer of best) {
    let x = 0;
    layer.forEach((n, i) => {
      if (i > 0) x += gap(layer[i - 1], n);
      cx.set(n, x);
    });
    const shift = x / 2;
    for (const n of layer) cx.set(n, (cx.get(n) ?? 0) - shift);
  }
  const place = (layer: string[], desired: number[]) => {
    const left = [...desired];
    for (let i = 1; i < layer.length; i++) left[i] = Math.max(left[i], left[i - 1] + gap(layer[i - 1], layer[i]));
    const right = [...desired];
    for (let i = layer.length - 2; i >= 0; i--) right[i] = Math.min(right[i], right[i + 1] - gap(layer[i], layer[i + 1]));
    layer.forEach((n, i) => cx.set(n, (left[i] + right[i]) / 2));
  };
  for (const down of [true, false, true, false, true]) {
    const range = down ? [...best.keys()].slice(1) : [...best.keys()].reverse().slice(1);
    for (const l of range) {
      const neighbours = down ? preds : succs;
      const desired = best[l].map((n) => {
        const ns = neighbours.get(n) ?? [];
        return ns.length ? ns.reduce((s, m) => s + (cx.get(m) ?? 0), 0) / ns.length : (cx.get(n) ?? 0);
      });
      place(best[l], desired);
    }
  }

  // y: one band per layer, as tall as its tallest box.
  const bandHeight = best.map((layer) => Math.max(0, ...layer.map((n) => size.get(n)?.height ?? 0)));
  const bandTop: number[] = [];
  let y = SPACING.margin;
  for (const h of bandHeight) {
    bandTop.push(y);
    y += h + SPACING.layer;
  }
  const hasLoop = edges.some((e) => e.from === e.to);
  const minX = Math.min(...[...cx].map(([n, x]) => x - width(n) / 2));
  const dx = SPACING.margin - minX;
  const placed = new Map<string, PlacedNode>();
  for (const n of nodes) {
    const l = layerOf.get(n.id) ?? 0;
    placed.set(n.id, { ...n, layer: l, x: (cx.get(n.id) ?? 0) + dx - n.width / 2, y: bandTop[l] });
  }
  const maxX = Math.max(0, ...[...cx].map(([n, x]) => x + dx + width(n) / 2));

  // Edges: through their dummies, leaving and entering boxes at ports spread along the sides.
  const routes: RoutedEdge[] = edges.map((e, i) => {
    const chain = chains.get(i);
    const from = placed.get(e.from);
    if (!chain || !from) {
      // A loop on its own box: out of the right side and back in.
      const n = from ?? { x: 0, y: 0, width: 0, height: 0 };
      const right = n.x + n.width;
      const points = [
        { x: right, y: n.y + n.height * 0.35 },
        { x: right + SPACING.loop, y: n.y + n.height * 0.35 },
        { x: right + SPACING.loop, y: n.y + n.height * 0.65 },
        { x: right, y: n.y + n.height * 0.65 },
      ];
      return { from: e.from, to: e.to, points, back: true, self: true };
    }
    const points: Point[] = [];
    for (const n of chain.slice(1, -1)) {
      const l = layerOf.get(n) ?? 0;
      const x = (cx.get(n) ?? 0) + dx;
      points.push({ x, y: bandTop[l] }, { x, y: bandTop[l] + bandHeight[l] });
    }
    return { from: chain[0], to: chain[chain.length - 1], points, back: back.has(i), self: false };
  });
  const ports = (node: string, out: boolean) => {
    const mine = routes
      .map((r, i) => ({ r, i }))
      .filter(({ r }) => !r.self && (out ? r.from : r.to) === node)
      .map(({ r, i }) => {
        const other = placed.get(out ? r.to : r.from);
        const toward = out ? r.points[0] : r.points[r.points.length - 1];
        return { i, x: toward?.x ?? (other ? other.x + other.width / 2 : 0) };
      })
      .sort((a, b) => a.x - b.x);
    const n = placed.get(node);
    const at = new Map<number, Point>();
    if (!n) return at;
    mine.forEach(({ i }, k) => {
      const x = n.x + n.width / 2 + (mine.length > 1 ? (k / (mine.length - 1) - 0.5) * n.width * 0.5 : 0);
      at.set(i, { x, y: out ? n.y + n.height : n.y });
    });
    return at;
  };
  const outPorts = new Map<number, Point>();
  const inPorts = new Map<number, Point>();
  for (const id of ids) {
    ports(id, true).forEach((p, i) => outPorts.set(i, p));
    ports(id, false).forEach((p, i) => inPorts.set(i, p));
  }
  routes.forEach((r, i) => {
    if (r.self) return;
    const start = outPorts.get(i);
    const end = inPorts.get(i);
    r.points = [...(start ? [start] : []), ...r.points, ...(end ? [end] : [])];
    if (r.back) {
      r.points.reverse();
      [r.from, r.to] = [r.to, r.from];
    }
  });

  return {
    nodes: placed,
    edges: routes,
    width: maxX + SPACING.margin + (hasLoop ? SPACING.loop : 0),
    height: y - SPACING.layer + SPACING.margin,
  };
}

/** An SVG path through the points, each leg a vertical S-curve (straight for loops). */
export function edgePath(points: Point[], straight = false): string {
  if (points.length === 0) return '';
  const [first, ...rest] = points;
  let d = `M${first.x},${first.y}`;
  let prev = first;
  for (const p of rest) {
    const dy = (p.y - prev.y) / 2;
    d += straight || prev.x === p.x ? ` L${p.x},${p.y}` : ` C${prev.x},${prev.y + dy} ${p.x},${p.y - dy} ${p.x},${p.y}`;
    prev = p;
  }
  return d;
}
