/** The project's version, from package.json (inlined into bundles at build time). */
import packageJson from '../../package.json' with { type: 'json' };

export const version: string = packageJson.version;
