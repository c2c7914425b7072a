//! cifar-tui: LeCun's backprop tricks on a CIFAR-10 CNN, trained live in the terminal.
//!
//! The rooms: [`cli`] (command line, settings, headless mode), [`term`] (the terminal, the event
//! loop and its effects, keys), [`app`] (state and its update step), [`ui`] (views, pure
//! functions of the state), [`store`] (the history and everything written to disk), and
//! [`run`], the one run model they all share. The engine is its own crate, `cifar_engine`,
//! which knows none of these.
#![deny(unsafe_code)]

pub mod app;
pub mod cli;
pub mod run;
pub mod store;
pub mod term;
pub mod ui;
