"""The toolkit: the prompt's text, the files of output/<project>/, and the build."""
