/*
 * 0.7.0 -> 0.8.0: nothing to change in the tables.  0.8.0 is the first
 * version whose scripts are built from sql/src/ (src/README.md, "SQL
 * sources"); its functions, views, grants and comments are those of 0.7.0,
 * and the definitions that follow this delta in the update script restate
 * them.
 */
