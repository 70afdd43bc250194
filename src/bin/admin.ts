// admin (also installed as 3fs-admin): the operator CLI.
import { runAdmin } from '../admin/index.js';

process.exitCode = await runAdmin(process.argv);
