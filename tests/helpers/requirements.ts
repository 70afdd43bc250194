/**
 * One rule for tests that need a component this machine may lack (FUSE, PostgreSQL, Chromium,
 * the Nix evaluator): outside CI they skip and print why; under CI=true a missing component fails
 * the test file with a message naming it, so a CI machine without it cannot pass by skipping.
 * Only FoundationDB and what needs real nixpkgs or a VM may skip under CI, and those tests do
 * not come through here.
 */

/** True in CI (`CI=true`), where every component the suite needs must be present. */
export const inCi = process.env['CI'] === 'true';

/**
 * Whether the tests that need `component` should skip: false when `missingReason` is undefined.
 * Otherwise it prints the reason and returns true, or under CI=true throws while the file is
 * collected, which fails the file and names what is missing.
 */
export function skipWithout(component: string, missingReason: string | undefined): boolean {
  if (missingReason === undefined) return false;
  if (inCi) {
    throw new Error(`${component} is missing and CI=true requires it: ${missingReason}`);
  }
  console.warn(`skipping tests that need ${component}: ${missingReason}`);
  return true;
}
