// What a page gets when the WebAssembly module cannot start: most often a Content-Security-Policy
// whose script-src lacks 'wasm-unsafe-eval'. It has the shape of the wasm exports the entry points
// use, so a site's calls fail soft instead of throwing into its page. Nothing reaches HubSpot.

/**
 * Inert `destination`, `createClient`, `Destination` and `Client`, plus `unavailable`: why the
 * module is off (the error, and the CSP source that allows WebAssembly).
 */
export function inert(error, version) {
  const unavailable = `HubSpot is off: WebAssembly did not start (${error}). A Content-Security-Policy must allow 'wasm-unsafe-eval' in script-src.`;
  const same = (ctx) => ctx;
  const destination = () => ({
    name: 'HubSpot',
    type: 'destination',
    version,
    isLoaded: () => false,
    // analytics-next warns once with this error and drops the plugin: the page's one line.
    load: () => Promise.reject(new Error(unavailable)),
    page: same,
    identify: same,
    track: same,
    group: same,
    alias: same,
    screen: same,
    setConsent() {},
    pendingIdentity: () => false,
  });
  const createClient = () => {
    // Nothing else reports on a standalone client.
    console.warn(unavailable);
    return {
      page() {},
      identify() {},
      track() {},
      reset() {},
      setConsent() {},
      pendingIdentity: () => false,
      loaded: Promise.resolve(),
    };
  };
  return {
    unavailable,
    destination,
    createClient,
    // Called with `new`, a function that returns an object gives that object.
    Destination: function () {
      return destination();
    },
    Client: function () {
      return createClient();
    },
  };
}
