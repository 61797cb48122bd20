import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The gateway's address is baked in at build time:
//   VITE_AUTHGATE_URL=http://127.0.0.1:4000/graphql npm run build
// Unset, the app calls port 4000 on the host it was loaded from (same site, so
// the SameSite=Strict refresh cookie is sent).
export default defineConfig({
  plugins: [react()],
  server: { port: 5173, strictPort: true },
  preview: { port: 4173, strictPort: true },
});
