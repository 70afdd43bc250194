/**
 * The FUSE low-level binding: libfuse 3's inode-based API for TypeScript file systems. Mount a
 * FuseOperations implementation with FuseSession.mount(); see types.ts for the interface.
 */
export { FuseSession, type MountOptions } from './session.js';
export { Errno, FuseErrnoError, fuseError, errnoOf, errnoName } from './errno.js';
export { fuseDefaults } from './defaults.js';
export { loadNativeBinding } from './native-binding.js';
export type {
  FastReadStats,
  FastReadsNative,
  NativeBinding,
  NativeRequest,
  NativeSession,
  NativeDispatch,
} from './native-binding.js';
export { Opcode } from './opcodes.js';
export { PackedDirents } from './directory-writer.js';
export * from './types.js';
