// Installable and offline: registers the service worker (sw.js) and says on the page whether
// everything is cached and whether the network is there. No TF.js and no model logic here.
//
// The element's data-state: "unsupported" (no service workers, e.g. plain http on a LAN address),
// "installing", "ready" (every file the page needs is cached: it works offline), "offline" (ready,
// and the network is gone), or "error". data-version is the cache version in use.

const PROBE_MS = 3000;

// A request the service worker always sends to the network (never answered from the cache).
async function networkReachable() {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), PROBE_MS);
  try {
    const response = await fetch(`drawing.json?network-probe=${Date.now()}`,
      { cache: 'no-store', signal: controller.signal });
    return response.ok;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

// The version of the service worker that controls the page ('' if it does not answer in time).
function controllerVersion(controller) {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve(''), PROBE_MS);
    channel.port1.onmessage = (event) => {
      clearTimeout(timer);
      resolve(String(event.data));
    };
    controller.postMessage('version', [channel.port2]);
  });
}

// Call once the page is ready: the service worker then saves what the page has just downloaded
// (revalidated, not downloaded again) instead of competing with it for the network.
export function watchOffline(element) {
  const show = (state, text, version = '') => {
    element.dataset.state = state;
    element.dataset.version = version;
    element.textContent = text;
  };
  if (!('serviceWorker' in navigator)) {
    show('unsupported', 'Offline use needs a secure page (https or localhost).');
    return;
  }
  const hadController = Boolean(navigator.serviceWorker.controller);
  let reloading = false;
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    // A new version (a republished model or page) took over: reload so that the page and its
    // models come from that version whole, never a mix of old and new files.
    if (hadController && !reloading) {
      reloading = true;
      location.reload();
      return;
    }
    report();
  });

  async function report() {
    const controller = navigator.serviceWorker.controller;
    if (!controller) {
      show('installing', 'Saving the page and the model for offline use…');
      return;
    }
    const version = await controllerVersion(controller);
    if (await networkReachable()) {
      show('ready', 'Works offline: the page and the model are saved on this device.', version);
    } else {
      show('offline', 'Offline: running from the copy saved on this device.', version);
    }
  }

  navigator.serviceWorker.register('sw.js').catch((error) => {
    show('error', `Offline use is not available (${error.message}).`);
  });
  report();
  addEventListener('online', report);
  addEventListener('offline', report);
}
