// Segment's "HubSpot Web (Actions)" device-mode destination, configured as Segment's CDN settings
// would configure it: the destination's presets become its subscriptions, and settings left at
// their documented defaults are written out (the CDN sends saved settings, not the definition).
import factory, { destination } from 'segment-hubspot-web'; // @segment/browser-destinations, see webpack.config.mjs

const subscriptions = destination.presets.map((preset) => ({
  name: preset.name,
  partnerAction: preset.partnerAction,
  subscribe: preset.subscribe,
  mapping: preset.mapping,
  enabled: true,
}));

window.BenchSegment = {
  /** Resolves to the destination's plugins: one per subscribed action. */
  destination: (settings) => factory({ formatCustomBehavioralEventNames: true, ...settings, subscriptions }),
};
