/** The operator CLI. */
export { runAdmin, buildAdminProgram } from './admin-cli.js';
