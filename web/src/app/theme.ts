import { createTheme, Modal } from '@mantine/core';

/**
 * Defaults of the components the console uses. Modals do not lock the page's scroll: the library that
 * does inserts an inline style element, which the server's CSP refuses (src/platform/http/security-headers.ts).
 */
export const theme = createTheme({
  // No animation for people who asked their system for reduced motion.
  respectReducedMotion: true,
  components: {
    Modal: Modal.extend({
      defaultProps: { lockScroll: false, closeButtonProps: { 'aria-label': 'Close' } },
    }),
  },
});
