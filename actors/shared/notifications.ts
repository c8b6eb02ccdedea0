/**
 * The stream every actor's notifications leave through (`emit` effects), read by the notifier, which retries
 * or dead-letters each on its own. One name, so no actor's notices go to a stream nobody reads.
 */
export const NOTIFICATION_STREAM = 'notifications';
