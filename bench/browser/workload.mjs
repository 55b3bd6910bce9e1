// The browser benchmark's workload: what page.js (in Chromium) and ab.mjs (in Node) call the
// plugins with. One definition, so the two measure the same calls.

const EVENT_NAMES = ['Product Viewed', 'Product Added', 'Checkout Started', 'Order Completed', 'Coupon Applied'];

/** 30 traits of the kinds sites send, varied by `i` so no call repeats another. */
export function traits(i) {
  return {
    email: `user${i}@example.com`,
    firstName: `Ada${i % 97}`,
    lastName: 'Lovelace',
    name: `Ada${i % 97} Lovelace`,
    phone: `+1 555 01${String(i % 100).padStart(2, '0')}`,
    title: 'Head of Engineering',
    username: `ada_${i}`,
    website: `https://example.com/u/${i}`,
    age: 20 + (i % 50),
    plan: i % 3 === 0 ? 'enterprise' : 'pro',
    seats: 1 + (i % 40),
    mrr: 49.5 + (i % 10),
    isPaying: i % 2 === 0,
    newsletter: i % 5 !== 0,
    createdAt: '2024-05-01T12:00:00.000Z',
    lastLogin: new Date(Date.UTC(2025, 0, 1 + (i % 28), 9, 30)),
    'favorite color': ['teal', 'orange', 'violet'][i % 3],
    address: { street: `${i} Main St`, city: 'Springfield', state: 'IL', postalCode: '62701', country: 'US' },
    company: { name: `Acme ${i % 50}`, id: `c-${i % 50}`, industry: 'Software', employee_count: 120 + (i % 7), plan: 'growth' },
    gender: 'female',
    birthday: '1990-04-12',
    description: 'Signed up through the pricing page after a webinar.',
    avatar: `https://cdn.example.com/avatars/${i}.png`,
    source: i % 2 ? 'webinar' : 'organic search',
    logins: i % 300,
    score: (i % 1000) / 10,
    verified: true,
    language: 'en-US',
    timezone: 'America/Chicago',
    role: 'admin',
  };
}

/** 15 event properties, varied by `i`. */
export function properties(i) {
  return {
    product_id: `p-${i}`,
    sku: `SKU-${i % 500}`,
    category: 'Games',
    name: `Monopoly edition ${i % 12}`,
    brand: 'Hasbro',
    variant: i % 2 ? 'red' : 'blue',
    price: 18.99 + (i % 5),
    quantity: 1 + (i % 3),
    currency: 'USD',
    coupon: i % 4 ? null : 'SPRING',
    position: i % 10,
    url: `https://shop.example.com/p/${i}`,
    image_url: `https://shop.example.com/p/${i}.jpg`,
    in_stock: i % 7 !== 0,
    'Shipping Method': 'express',
  };
}

export const eventName = (i) => EVENT_NAMES[i % EVENT_NAMES.length];
