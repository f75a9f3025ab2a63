// The visual rule builder: a tree of groups (AND / OR), NOT boxes and conditions (tags,
// attributes, customer fields, engagement with a campaign, events), edited in place. Each node is
// a <div data-path="rule.or[0]"> named by its path in the API's JSON, and shows the problems
// (the builder's or the API's) whose field path falls on it.
import type { ReactNode } from 'react';
import { useI18n, type Key } from '../i18n';
import {
  ATTR_OPS,
  CMP_OPS,
  FIELD_OPS,
  newCondition,
  newGroup,
  newId,
  type AttrOp,
  type CmpOp,
  type Condition,
  type ConditionKind,
  type EngagementKind,
  type FieldName,
  type RuleNode,
  type TagMode,
  type ValueType,
} from '../segmentRule';

/** A problem shown on a node: the rest of its field path (`op`, `''`) and the message. */
export interface NodeProblem {
  rest: string;
  message: string;
}

interface Props {
  node: RuleNode;
  path: string;
  onChange: (next: RuleNode | null) => void;
  problems: Map<string, NodeProblem[]>;
  campaigns: { id: string; name: string }[];
  root?: boolean;
}

const ADDABLE: { kind: Exclude<ConditionKind, 'raw'>; label: Key }[] = [
  { kind: 'tag', label: 'seg.add.tag' },
  { kind: 'attribute', label: 'seg.add.attribute' },
  { kind: 'field', label: 'seg.add.field' },
  { kind: 'engagement', label: 'seg.add.engagement' },
  { kind: 'event', label: 'seg.add.event' },
];

export function RuleNodeView({ node, path, onChange, problems, campaigns, root }: Props) {
  const { t } = useI18n();
  const mine = problems.get(node.id) ?? [];
  const shown = (
    <>
      {mine.map((p, i) => (
        <div key={i} className="error" role="alert">
          {p.rest ? <code>{p.rest}</code> : null} {p.message}
        </div>
      ))}
    </>
  );
  const wrapNot = () => onChange({ id: newId(), kind: 'not', child: node });
  const nodeButtons = (
    <span className="seg-node-actions">
      <button type="button" className="secondary small" onClick={wrapNot} title={t('seg.not.wrapHint')}>
        {t('seg.not.wrap')}
      </button>
      {!root && (
        <button type="button" className="secondary small" onClick={() => onChange(null)}>
          {t('seg.remove')}
        </button>
      )}
    </span>
  );

  if (node.kind === 'group') {
    const setChild = (i: number) => (next: RuleNode | null) => {
      const children = [...node.children];
      if (next === null) children.splice(i, 1);
      else children[i] = next;
      onChange({ ...node, children });
    };
    return (
      <div className={`seg-node seg-group seg-${node.op}`} data-path={path} data-kind="group">
        <div className="seg-head">
          <select
            name="group-op"
            aria-label={t('seg.group.op')}
            value={node.op}
            onChange={(e) => onChange({ ...node, op: e.target.value as 'and' | 'or' })}
          >
            <option value="and">{t('seg.group.and')}</option>
            <option value="or">{t('seg.group.or')}</option>
          </select>
          <span className="seg-adders">
            {ADDABLE.map((a) => (
              <button
                key={a.kind}
                type="button"
                className="secondary small"
                onClick={() => onChange({ ...node, children: [...node.children, newCondition(a.kind)] })}
              >
                + {t(a.label)}
              </button>
            ))}
            <button
              type="button"
              className="secondary small"
              onClick={() => onChange({ ...node, children: [...node.children, newGroup('and')] })}
            >
              + {t('seg.add.group')}
            </button>
          </span>
          <span className="spacer" />
          {nodeButtons}
        </div>
        {shown}
        {node.children.length === 0 && <p className="muted">{t('seg.group.empty')}</p>}
        {node.children.map((child, i) => (
          <RuleNodeView
            key={child.id}
            node={child}
            path={`${path}.${node.op}[${i}]`}
            onChange={setChild(i)}
            problems={problems}
            campaigns={campaigns}
          />
        ))}
      </div>
    );
  }

  if (node.kind === 'not') {
    return (
      <div className="seg-node seg-not" data-path={path} data-kind="not">
        <div className="seg-head">
          <strong>{t('seg.not.label')}</strong>
          <span className="spacer" />
          <button type="button" className="secondary small" onClick={() => onChange(node.child)}>
            {t('seg.not.unwrap')}
          </button>
          {!root && (
            <button type="button" className="secondary small" onClick={() => onChange(null)}>
              {t('seg.remove')}
            </button>
          )}
        </div>
        {shown}
        <RuleNodeView
          node={node.child}
          path={`${path}.not`}
          onChange={(next) => onChange(next === null ? null : { ...node, child: next })}
          problems={problems}
          campaigns={campaigns}
        />
      </div>
    );
  }

  return (
    <div className={`seg-node seg-cond ${mine.length ? 'has-error' : ''}`} data-path={path} data-kind={node.kind}>
      <div className="seg-head">
        <span className="seg-kind">{t(`seg.kind.${node.kind}` as Key)}</span>
        <ConditionFields node={node} onChange={onChange} campaigns={campaigns} />
        <span className="spacer" />
        {nodeButtons}
      </div>
      {shown}
    </div>
  );
}

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <label className="seg-field">
      <span>{label}</span>
      {children}
    </label>
  );
}

function ConditionFields({
  node,
  onChange,
  campaigns,
}: {
  node: Condition;
  onChange: (n: RuleNode) => void;
  campaigns: { id: string; name: string }[];
}) {
  const { t } = useI18n();
  switch (node.kind) {
    case 'tag':
      return (
        <>
          <Field label={t('seg.tag.mode')}>
            <select name="tag-mode" value={node.mode} onChange={(e) => onChange({ ...node, mode: e.target.value as TagMode })}>
              <option value="tag">{t('seg.tag.one')}</option>
              <option value="tags_any">{t('seg.tag.any')}</option>
              <option value="tags_all">{t('seg.tag.all')}</option>
            </select>
          </Field>
          <Field label={node.mode === 'tag' ? t('seg.tag.tag') : t('seg.tag.tags')}>
            <input name="tags" value={node.tags} onChange={(e) => onChange({ ...node, tags: e.target.value })} />
          </Field>
        </>
      );
    case 'attribute':
      return (
        <>
          <Field label={t('seg.attr.path')}>
            <input name="attribute" placeholder="level / address.city" value={node.path} onChange={(e) => onChange({ ...node, path: e.target.value })} />
          </Field>
          <Field label={t('seg.op')}>
            <select name="op" value={node.op} onChange={(e) => onChange({ ...node, op: e.target.value as AttrOp })}>
              {ATTR_OPS.map((op) => (
                <option key={op} value={op}>
                  {t(`seg.op.${op}` as Key)}
                </option>
              ))}
            </select>
          </Field>
          {node.op !== 'exists' && (
            <>
              <Field label={t('seg.attr.type')}>
                <select name="type" value={node.type} onChange={(e) => onChange({ ...node, type: e.target.value as ValueType })}>
                  <option value="string">{t('seg.type.string')}</option>
                  <option value="number">{t('seg.type.number')}</option>
                  <option value="boolean">{t('seg.type.boolean')}</option>
                </select>
              </Field>
              <Field label={node.op === 'in' ? t('seg.values') : t('seg.value')}>
                {node.type === 'boolean' && node.op !== 'in' ? (
                  <select name="value" value={node.value === 'true' ? 'true' : 'false'} onChange={(e) => onChange({ ...node, value: e.target.value })}>
                    <option value="true">true</option>
                    <option value="false">false</option>
                  </select>
                ) : (
                  <input name="value" value={node.value} onChange={(e) => onChange({ ...node, value: e.target.value })} />
                )}
              </Field>
            </>
          )}
        </>
      );
    case 'field':
      return (
        <>
          <Field label={t('seg.field.field')}>
            <select
              name="field"
              value={node.field}
              onChange={(e) => {
                const field = e.target.value as FieldName;
                const op = FIELD_OPS[field].includes(node.op) ? node.op : FIELD_OPS[field][0];
                onChange({ ...node, field, op });
              }}
            >
              {(Object.keys(FIELD_OPS) as FieldName[]).map((f) => (
                <option key={f} value={f}>
                  {t(`seg.field.${f}` as Key)}
                </option>
              ))}
            </select>
          </Field>
          <Field label={t('seg.op')}>
            <select name="op" value={node.op} onChange={(e) => onChange({ ...node, op: e.target.value })}>
              {FIELD_OPS[node.field].map((op) => (
                <option key={op} value={op}>
                  {t(`seg.op.${op}` as Key)}
                </option>
              ))}
            </select>
          </Field>
          {node.field !== 'birthday' && (
            <Field label={node.op === 'in' ? t('seg.values') : t('seg.value')}>
              <input
                name="value"
                placeholder={t(`seg.field.${node.field}.hint` as Key)}
                value={node.value}
                onChange={(e) => onChange({ ...node, value: e.target.value })}
              />
            </Field>
          )}
        </>
      );
    case 'engagement': {
      const known = campaigns.some((c) => c.id === node.campaignId);
      return (
        <>
          <Field label={t('seg.eng.kind')}>
            <select name="engagement" value={node.engagement} onChange={(e) => onChange({ ...node, engagement: e.target.value as EngagementKind })}>
              <option value="received">{t('seg.eng.received')}</option>
              <option value="opened">{t('seg.eng.opened')}</option>
              <option value="clicked">{t('seg.eng.clicked')}</option>
            </select>
          </Field>
          <Field label={t('seg.eng.campaign')}>
            <select name="campaign_id" value={node.campaignId} onChange={(e) => onChange({ ...node, campaignId: e.target.value })}>
              <option value="">{t('seg.eng.choose')}</option>
              {!known && node.campaignId && <option value={node.campaignId}>{node.campaignId}</option>}
              {campaigns.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
            </select>
          </Field>
          <Field label={t('seg.withinDays')}>
            <input name="within_days" className="narrow" inputMode="numeric" value={node.withinDays} onChange={(e) => onChange({ ...node, withinDays: e.target.value })} />
          </Field>
        </>
      );
    }
    case 'event':
      return (
        <>
          <Field label={t('seg.event.name')}>
            <input name="event" placeholder="order_paid" value={node.name} onChange={(e) => onChange({ ...node, name: e.target.value })} />
          </Field>
          <Field label={t('seg.event.count')}>
            <span className="row tight">
              <select name="count-op" value={node.countOp} onChange={(e) => onChange({ ...node, countOp: e.target.value as CmpOp | '' })}>
                <option value="">{t('seg.event.atLeastOnce')}</option>
                {CMP_OPS.map((op) => (
                  <option key={op} value={op}>
                    {t(`seg.op.${op}` as Key)}
                  </option>
                ))}
              </select>
              {node.countOp !== '' && (
                <input name="count-value" className="narrow" inputMode="numeric" value={node.countValue} onChange={(e) => onChange({ ...node, countValue: e.target.value })} />
              )}
            </span>
          </Field>
          <Field label={t('seg.event.within')}>
            <input name="within_days" className="narrow" inputMode="numeric" placeholder={t('seg.event.anyTime')} value={node.withinDays} onChange={(e) => onChange({ ...node, withinDays: e.target.value })} />
          </Field>
          <Field label={t('seg.event.where')}>
            <input name="where" className="wide" placeholder='{"property": "amount", "op": ">=", "value": 100}' value={node.where} onChange={(e) => onChange({ ...node, where: e.target.value })} />
          </Field>
        </>
      );
    case 'raw':
      return (
        <Field label={t('seg.raw')}>
          <input name="raw" className="wide" value={node.json} onChange={(e) => onChange({ ...node, json: e.target.value })} />
        </Field>
      );
  }
}
