import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

/**
 * The console is served by the API server at `/` (or under the path of PUBLIC_URL): asset URLs are
 * relative, and the server writes the `<base href>` of index.html (src/platform/http/console.ts).
 */
export default defineConfig({
  base: './',
  plugins: [react()],
  server: {
    // `npm run dev` in web/: the API on its default port, same origin through the proxy.
    proxy: { '/v1': 'http://localhost:3000', '/openapi.json': 'http://localhost:3000' },
    fs: { allow: ['..'] },
  },
  build: {
    target: 'es2022',
    // The server's CSP allows no inline script: Vite's module preload polyfill is not needed either.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    // dist/.vite/manifest.json: the import graph `npm run size` measures the sign-in route with.
    manifest: true,
    chunkSizeWarningLimit: 800,
  },
});
