/**
 * Readiness and stop notifications to systemd (Type=notify). A no-op when NOTIFY_SOCKET is not
 * set, i.e. when not started by systemd. The one file that loads native/sdnotify.
 */
import { loadNativeAddon } from './native-addon.js';

interface SdNotifyAddon {
  notify(socketPath: string, message: string): void;
}

let addon: SdNotifyAddon | undefined;

/** Sends `state` (e.g. "READY=1") to systemd when NOTIFY_SOCKET is set. Returns whether it sent. */
export function sdNotify(state: string): boolean {
  const socketPath = process.env['NOTIFY_SOCKET'];
  if (socketPath === undefined || socketPath === '') return false;
  addon ??= loadNativeAddon('sdnotify') as SdNotifyAddon;
  addon.notify(socketPath, state);
  return true;
}
