import { scriptVersions } from './scripts';

describe('Lua scripts', () => {
  it('are registered under versioned names derived from their bodies', () => {
    const versions = scriptVersions();
    // Contains rather than equals: other packages add scripts of their own.
    expect(Object.keys(versions)).toEqual(expect.arrayContaining(['acquireLease', 'applyActivity', 'commitTurns', 'deadLetter', 'fireTimers', 'recordRelation', 'releaseBudget', 'releaseLease', 'replayDead', 'reserveBudget']));
    for (const [name, versioned] of Object.entries(versions)) expect(versioned).toMatch(new RegExp(`^${name}_[0-9a-f]{8}$`));
  });
});
