/**
 * The paragraphs the demo model learns its word pairs from. Written for this project; the demo
 * model can only ever say words that appear here, in orders that appear here.
 */
export const DEMO_TEXT = `Once upon a time, there was a small town by the sea. The town had a lighthouse, a bakery and a library. Every morning the baker made bread, and the smell of warm bread filled the street. The children walked to school and waved at the old man who kept the lighthouse.

One day, a little girl named Mira found a map in the library. The map showed a path from the town to a hidden garden on the hill. Mira asked her friend Tom to come with her. They packed bread, water and a lamp, and they walked up the hill together.

The path was long and the wind was cold, but they did not stop. At the top of the hill they found the garden. It was full of tall trees, bright flowers and a quiet pond. Mira and Tom sat by the pond and ate their bread. They watched the sun go down over the sea, and they were happy.

When they came back to the town, the old man at the lighthouse smiled. He told them that he had planted the garden many years ago. From that day on, Mira and Tom visited the garden every week, and they kept the map safe in the library for the next children who would find it.

This is the Bulwark demo model. It is not a trained language model. It is a table of word pairs taken from a few short paragraphs, stored in the weights of a one layer llama model, so that the server has something to run when no model is given. It answers with words from these paragraphs in an order that often reads like a story, but it does not understand the question. To serve a real model, start the server with a model file.`;
