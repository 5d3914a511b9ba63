import '@mantine/core/styles.css';
import '@mantine/notifications/styles.css';
import './app/app.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { MantineProvider } from '@mantine/core';
import { Notifications } from '@mantine/notifications';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { BrowserRouter } from 'react-router';
import { ApiError } from './api/errors';
import { basePath } from './lib/base-path';
import { AppRoutes } from './app/routes';
import { theme } from './app/theme';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // A refusal (4xx) is an answer, not a glitch: only network errors and 5xx are retried.
      retry: (count, err) => count < 2 && !(err instanceof ApiError && err.status >= 400 && err.status < 500),
      refetchOnWindowFocus: true,
    },
    // A mutation's variables and answer (passwords, codes, a TOTP secret, recovery codes, an API key's
    // secret) live only while the screen that made it is mounted, never in a cache afterwards.
    mutations: { gcTime: 0 },
  },
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    {/* The default theme's CSS variables come from styles.css, and no global-class style element is
        rendered: the CSP forbids inline <style> (src/platform/http/security-headers.ts). */}
    <MantineProvider
      theme={theme}
      defaultColorScheme="auto"
      withCssVariables={false}
      withGlobalClasses={false}
    >
      <Notifications />
      <QueryClientProvider client={queryClient}>
        <BrowserRouter basename={basePath || '/'}>
          <AppRoutes />
        </BrowserRouter>
      </QueryClientProvider>
    </MantineProvider>
  </StrictMode>,
);
