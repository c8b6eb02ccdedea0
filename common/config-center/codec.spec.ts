import { z } from 'zod';
import { itemBody, KindTable, parseChangeEntry, parseItem, validateValue } from './codec';
import { CONFIG_CENTER_ERRORS, InvalidConfigError } from './errors';
import type { ConfigKindSpec } from './types';

const flow: ConfigKindSpec = {
  kind: 'reward-flow',
  description: 'test flows',
  idField: 'id',
  schema: z.object({ id: z.string(), steps: z.array(z.object({ points: z.number().int().positive() })).min(1), note: z.string().default('') }).strict(),
};

function refusal(fn: () => unknown): InvalidConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidConfigError) return err;
    throw err;
  }
  throw new Error('expected an InvalidConfigError');
}

describe('config-center codec', () => {
  it('validateValue returns the schema output with defaults and the id filled in', () => {
    expect(validateValue(flow, 'f1', { steps: [{ points: 5 }] })).toEqual({ id: 'f1', steps: [{ points: 5 }], note: '' });
  });

  it('validateValue lists every problem as path: message, the id mismatch among them', () => {
    const err = refusal(() => validateValue(flow, 'f1', { id: 'f2', steps: [{ points: -1 }, { points: 'x' }], extra: true }));
    expect(err.code).toBe(CONFIG_CENTER_ERRORS.invalidConfig);
    expect(err.problems.map((p) => p.path)).toEqual(['id', 'steps.0.points', 'steps.1.points', '(root)']);
    expect(err.message).toMatch(/^invalid reward-flow "f1": id: names "f2", not this item's id "f1"; .*steps\.0\.points: .*; steps\.1\.points: .*; \(root\): .*extra/);
  });

  it('itemBody refuses a value larger than the limit', () => {
    expect(refusal(() => itemBody('reward-flow', 'f1', { s: 'x'.repeat(100) }, undefined, 64)).problems[0].message).toMatch(/bytes as JSON; at most 64/);
    expect(JSON.parse(itemBody('reward-flow', 'f1', { a: 1 }, 'alice', 1024))).toEqual({ kind: 'reward-flow', id: 'f1', by: 'alice', value: { a: 1 } });
  });

  it('parseItem reads the stored format the write script produces', () => {
    const stored = '{"version":3,"updatedAt":1700000000000,' + itemBody('reward-flow', 'f1', { a: [] }, undefined, 1024).slice(1);
    expect(parseItem(stored)).toEqual({ kind: 'reward-flow', id: 'f1', version: 3, updatedAt: 1700000000000, value: { a: [] } });
  });

  it('parseChangeEntry reads a change entry and rejects a stray one', () => {
    expect(parseChangeEntry('1-0', ['kind', 'k', 'id', 'a', 'version', '0', 'global', '7', 'at', '5', 'by', 'ops'])).toEqual({ streamId: '1-0', kind: 'k', id: 'a', version: 0, global: 7, at: 5, by: 'ops' });
    expect(parseChangeEntry('1-0', ['hello', 'world'])).toBeUndefined();
    expect(parseChangeEntry('1-0', null)).toBeUndefined();
  });

  it('KindTable refuses bad or duplicate kind names and names the known kinds for an unknown one', () => {
    expect(() => new KindTable([{ ...flow, kind: 'Bad Kind' }])).toThrow(/configuration kind must match/);
    expect(() => new KindTable([flow, flow])).toThrow(/given twice/);
    expect(() => new KindTable([flow]).spec('nope')).toThrow(/no configuration kind "nope"; known: reward-flow/);
  });
});
