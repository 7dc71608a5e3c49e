/** The cast and the lines the simulated people say. Plain data; the simulator picks from it at random. */

export const AGENT_NAMES: ReadonlyArray<readonly [string, string]> = [
  ['Alice', 'Moretti'],
  ['Bruno', 'Esposito'],
  ['Chiara', 'Ricci'],
  ['Davide', 'Colombo'],
  ['Elena', 'Marino'],
  ['Fabio', 'Greco'],
  ['Giulia', 'Bruno'],
  ['Hugo', 'Lambert'],
];

export const OWNER_NAME = ['Olivia', 'Owner'] as const;
export const SUPERVISOR_NAME = ['Sam', 'Supervisor'] as const;

export const VISITOR_FIRST_NAMES = ['Anna', 'Ben', 'Carla', 'Dario', 'Eva', 'Filip', 'Greta', 'Hana', 'Ivan', 'Jonas', 'Karin', 'Luca'];
export const VISITOR_LAST_NAMES = ['Rossi', 'Novak', 'Schmidt', 'Dubois', 'Silva', 'Jensen', 'Kowalski', 'Costa', 'Meyer', 'Horvat'];

export const DEPARTMENTS = [
  { name: 'Sales', share: 0.3 },
  { name: 'Support', share: 0.5 },
  { name: 'Billing', share: 0.2 },
] as const;

export const FIRST_TEXTS = [
  'Hi, I cannot log in to my account',
  'Hello! Do you ship to Norway?',
  'My invoice shows the wrong VAT number',
  'Is there a discount for annual plans?',
  'The checkout page keeps spinning',
  'How do I add a teammate to my workspace?',
  'I was charged twice this month',
  'Can I change the delivery address of my order?',
  'Your widget does not load on Safari',
  'Hi, I would like to talk to a human please',
];

export const VISITOR_LINES = [
  'Thanks, let me check',
  'Still the same problem, unfortunately',
  'Order number is 48213',
  'It happens on my phone too',
  'Ok, I tried that',
  'Great, that worked!',
  'Could you send me the link again?',
  'Sorry, one more question',
  'Yes, the email is the one I used to sign up',
  'Perfect, thank you so much',
];

export const AGENT_LINES = [
  'Hi! Happy to help, give me a second',
  'Could you share your order number?',
  'I have reset it for you, please try again',
  'Let me check with the billing team',
  'Can you clear the browser cache and retry?',
  'I see the double charge: the refund is on its way',
  'Here is the guide: https://example.test/help/teammates',
  'Anything else I can do for you?',
  'Thanks for your patience',
  'That is fixed now',
];

export const BOT_LINES = [
  'Hi, I am the virtual assistant. How can I help?',
  'You can find our pricing at https://example.test/pricing',
  'Did this answer your question?',
  'I can also connect you with an operator',
];

export const HANDOFF_LINE = 'Let me connect you with an operator';

export const RATING_MESSAGES = ['', 'Very helpful', 'Fast answer, thanks', 'Took a while', 'Problem solved'];
