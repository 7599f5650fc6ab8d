/**
 * The built-in prompt set (short, varied requests, so a bench needs no files) and the word list
 * that `random` and `repeat-mix` prompts are drawn from.
 */
export const BUILTIN_PROMPTS: readonly string[] = [
  "Once upon a time, in a small village by the sea,",
  "Explain in simple words why the sky is blue.",
  "Write a short poem about a cat that likes the rain.",
  "List three ways to keep a server's response time low under load.",
  "Summarize the story of a boy who finds a lost dog and brings it home.",
  "What is the difference between a process and a thread?",
  "Translate to French: The weather is nice today and we are going to the park.",
  "Write a haiku about the first snow of winter.",
  "Give a recipe for a simple tomato soup.",
  "Describe a sunrise over the mountains to someone who has never seen one.",
  "Why do we sleep? Answer in two sentences.",
  "Write the opening line of a mystery novel set on a train.",
  "Explain what a hash table is to a ten-year-old.",
  "Tell a story about a robot that learns to paint.",
  "What are the three states of water?",
  "Lily wanted to play outside, but it was raining. She",
];

export const WORDS: readonly string[] = (
  "the a little girl boy dog cat tree house sun moon star river sea park ball red blue green " +
  "big small happy sad run jump play walk talk see look find make take give say went came " +
  "friend mom dad bird fish flower garden book toy cake apple water sky cloud rain snow wind " +
  "day night morning time story world road hill town door window light dark warm cold fast " +
  "slow new old good kind brave quiet loud bright soft hard open close sing dance read write " +
  "server request token model memory queue thread cache latency engine stream answer question"
).split(" ");
