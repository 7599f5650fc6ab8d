/** Built-in texts of the validation checks, written for this project. */

/** Tokenizer round trip: punctuation, digits, accents, symbols and non-Latin scripts. */
export const ROUND_TRIP_TEXT =
  "Hello, world! The quick brown fox jumps over the lazy dog (twice) in 2024: café, naïve, " +
  "Ärger, ½ + ¼ = ¾, 日本語のテキスト, emoji 🙂, and a tab\there.";

/** Perplexity: a short plain-English story (simple words, as small models are trained on). */
export const PERPLEXITY_TEXT =
  "Once upon a time, there was a little boy named Sam. Sam liked to play with his red ball in " +
  "the park. One day, the ball rolled under a big tree. Sam looked under the tree and saw a " +
  'small cat. The cat was sad because it was lost. Sam said, "Do not be sad. I will help you ' +
  'find your home." Sam and the cat walked to the end of the street. There they found a girl ' +
  'who was crying. When she saw the cat, she smiled and hugged it. "Thank you, Sam!" she said. ' +
  "Sam was happy, and he went back to the park to play with his ball.";

/** Prompt of the determinism and speed checks. */
export const GENERATION_PROMPT = "Once upon a time";
