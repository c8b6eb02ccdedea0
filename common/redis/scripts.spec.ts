import { scriptVersions } from './scripts';

describe('Lua scripts', () => {
  it('are registered under versioned names derived from their bodies', () => {
    const versions = scriptVersions();
    expect(Object.keys(versions).sort()).toEqual(['acquireLease', 'applyActivity', 'commitTurns', 'deadLetter', 'fireTimers', 'recordRelation', 'releaseBudget', 'releaseLease', 'reserveBudget']);
    for (const [name, versioned] of Object.entries(versions)) expect(versioned).toMatch(new RegExp(`^${name}_[0-9a-f]{8}$`));
  });
});
