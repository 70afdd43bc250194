// Proves the gateway's TOML is validated at start-up: defaults fill in, and bad exports, networks, paths and tunables are refused with the key that is wrong.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/common/config.js';
import { exportSpecsOf, nfsConfigSchema } from '../../../src/nfs/config.js';

const base = `
[node]
id = 300
[cluster]
id = "test"
secret_file = "/run/secret"
[mgmtd]
addresses = ["127.0.0.1:8000"]
`;

function parse(nfs: string) {
  return parseConfig(nfsConfigSchema, `${base}\n${nfs}`, 'nfs.toml');
}

describe('nfs gateway config', () => {
  it('fills in defaults around the exports', () => {
    const config = parse(`[nfs]\n[[nfs.exports]]\npath = "/"\nclients = ["10.0.0.0/8"]\n`);
    expect(config.nfs.listen).toBe('0.0.0.0:2049');
    expect(config.nfs.register_rpcbind).toBe(false);
    expect(exportSpecsOf(config)).toEqual([
      {
        path: '/',
        clients: ['10.0.0.0/8'],
        readOnly: false,
        rootSquash: true,
        allSquash: false,
        anonUid: 65534,
        anonGid: 65534,
      },
    ]);
  });

  it('refuses exports with bad paths, networks, duplicates, or none at all', () => {
    const cases: Array<[string, RegExp]> = [
      [`[nfs]\nexports = []\n`, /nfs\.exports/],
      [`[nfs]\n[[nfs.exports]]\npath = "data"\nclients = ["*"]\n`, /nfs\.exports\.0\.path/],
      [`[nfs]\n[[nfs.exports]]\npath = "/a/../b"\nclients = ["*"]\n`, /nfs\.exports\.0\.path/],
      [`[nfs]\n[[nfs.exports]]\npath = "/a/"\nclients = ["*"]\n`, /nfs\.exports\.0\.path/],
      [`[nfs]\n[[nfs.exports]]\npath = "/"\nclients = ["10.0.0.0/40"]\n`, /nfs\.exports\.0\.clients\.0/],
      [`[nfs]\n[[nfs.exports]]\npath = "/"\nclients = []\n`, /nfs\.exports\.0\.clients/],
      [
        `[nfs]\n[[nfs.exports]]\npath = "/"\nclients = ["*"]\n[[nfs.exports]]\npath = "/"\nclients = ["*"]\n`,
        /nfs\.exports\.1\.path: exported twice/,
      ],
      [`[nfs]\nlisten = "nowhere"\n[[nfs.exports]]\npath = "/"\nclients = ["*"]\n`, /nfs\.listen/],
      [`[nfs]\nsquash = true\n[[nfs.exports]]\npath = "/"\nclients = ["*"]\n`, /nfs\.squash: unknown key/],
      [`[nfs]\n[[nfs.exports]]\npath = "/"\nclients = ["*"]\nanonuid = -1\n`, /anonuid/],
    ];
    for (const [text, message] of cases) expect(() => parse(text)).toThrow(message);
  });
});
