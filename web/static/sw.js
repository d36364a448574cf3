// The service worker: the page works offline and installs as an app.
//
// Cache-first from one cache per site version. `pipeline/site.py` writes SITE below: the version
// (a digest of every file of the site, so it changes when a model is republished, as its
// manifest.json sha256 does, or when the page changes) and the files to precache (the page,
// TF.js and its WASM binaries, every manifest and labels file, the default model's recommended
// variant). Other models are cached when first used. A new version installs beside the old one,
// precaches whole, then replaces it; the page reloads once onto it (offline.js).

const SITE = { version: 'dev', precache: [] };   // replaced by pipeline/site.py
const CACHE = `mnist-${SITE.version}`;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // 'no-cache' revalidates with the server: the files are this version's, and those the page
    // has just downloaded come back as a 304 instead of a second download.
    await cache.addAll(SITE.precache.map((path) => new Request(path, { cache: 'no-cache' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('mnist-') && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

async function cachedOrFetched(request) {
  const cache = await caches.open(CACHE);
  // a navigation with ?backend=…&model=… is the same page
  const cached = await cache.match(request, { ignoreSearch: request.mode === 'navigate' });
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok && response.type === 'basic') await cache.put(request, response.clone());
  return response;
}

// offline.js asks which version controls the page (during a changeover two caches exist, so the
// cache names alone cannot say).
self.addEventListener('message', (event) => {
  if (event.data === 'version' && event.ports[0]) event.ports[0].postMessage(SITE.version);
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.searchParams.has('network-probe')) {   // offline.js asks whether the network is there
    event.respondWith(fetch(request, { cache: 'no-store' })
      .catch(() => new Response('offline', { status: 503 })));
    return;
  }
  event.respondWith(cachedOrFetched(request));
});
