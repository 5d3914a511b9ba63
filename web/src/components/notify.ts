import { notifications, type NotificationData } from '@mantine/notifications';

/**
 * Shows a notification whose close button has an accessible name (Mantine's has none, and axe flags it).
 * Every notification of the console goes through here.
 */
export function notify(data: Omit<NotificationData, 'closeButtonProps'>): void {
  notifications.show({ ...data, closeButtonProps: { 'aria-label': 'Close notification' } });
}

/** The green confirmation that an action was done ("Project “x” created"). */
export function notifySuccess(message: string): void {
  notify({ message, color: 'green' });
}
