/**
 * Seeded randomness for core logic and simulations (sfc32): the same seed replays the same run.
 * Security-relevant randomness (nonces, secrets) uses node:crypto instead.
 */

export interface Random {
  /** A uniform 32-bit unsigned integer. */
  nextU32(): number;
  /** A uniform integer in [0, bound). */
  nextInt(bound: number): number;
  /** A uniform float in [0, 1). */
  nextFloat(): number;
}

/** Creates a seeded sfc32 generator. */
export function seededRandom(seed: number): Random {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const nextU32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 16; i++) nextU32();
  return {
    nextU32,
    nextInt(bound) {
      return Math.floor((nextU32() / 0x1_0000_0000) * bound);
    },
    nextFloat() {
      return nextU32() / 0x1_0000_0000;
    },
  };
}
