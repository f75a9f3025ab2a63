import { describe, expect, it } from 'vitest';
import { matchRoute } from './router';

describe('matchRoute', () => {
  it('matches literal segments and takes parameters', () => {
    expect(matchRoute('/campaigns/:id', '/campaigns/abc')).toEqual({ id: 'abc' });
    expect(matchRoute('/campaigns/new', '/campaigns/new')).toEqual({});
    expect(matchRoute('/', '/')).toEqual({});
  });
  it('refuses other paths', () => {
    expect(matchRoute('/campaigns/:id', '/campaigns')).toBeNull();
    expect(matchRoute('/campaigns/:id', '/templates/abc')).toBeNull();
  });
});
